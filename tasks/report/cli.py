"""CLI: ``quarry report`` renders a mixture's HTML report."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    r = sub.add_parser("report", help="render a mixture's self-contained HTML report")
    r.add_argument("name", help="mixture name (mixtures/<name>/ in the store)")
    r.add_argument("--published", help="<target>/<name> of the published mixture: attach the report to it")
    r.add_argument("--version", default="latest", help="with --published: 'latest' (default) or v<N>")
    r.add_argument("--out", help="write the HTML here instead (local path or s3:// URL)")
    r.add_argument("--sweep-id", help="sweep whose fit to show (default: from the manifest or mix summary)")
    r.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from tasks.report import ReportConfig, run_report

    result = run_report(
        ReportConfig(
            store=args.store,
            name=args.name,
            published=args.published,
            version=args.version,
            out=args.out,
            sweep_id=args.sweep_id,
        )
    )
    print(result.url)
    return 0
