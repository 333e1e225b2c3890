"""CLI: ``quarry publish`` (write a mixture version) and ``quarry consume`` (inspect / verify one)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tasks.progress import print_summary

TARGET_ENV = "QUARRY_PUBLISH_URL"


def register(sub: Any) -> None:
    p = sub.add_parser("publish", help="publish a mixture as an immutable version (S3 or a local directory)")
    p.add_argument("name", help="mixture name (mixtures/<name>/ in the store)")
    p.add_argument(
        "--to",
        dest="target",
        default=os.environ.get(TARGET_ENV),
        help=f"s3://bucket/prefix or a local directory (default: ${TARGET_ENV})",
    )
    p.add_argument("--dry-run", action="store_true", help="build and describe the version, write nothing")
    p.add_argument("--no-report", action="store_true", help="do not render report.html into the version")
    p.add_argument("--max-rows-per-shard", type=int, default=100_000)
    p.add_argument("--max-missing-fraction", type=float, default=0.0)
    p.add_argument("--sweep-id", help="sweep that chose the parameters (default: from the mix summary)")
    p.add_argument("--workers", type=int, default=0, help="Dask LocalCluster workers (0: in this process)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler")
    p.set_defaults(func=_publish)

    c = sub.add_parser("consume", help="resolve, summarise and verify a published mixture version")
    c.add_argument("url", help="<target>/<name>, e.g. s3://bucket/mixtures/web-en (or .../v3)")
    c.add_argument("--version", default="latest", help="'latest' (default) or v<N>")
    c.add_argument("--verify", action="store_true", help="download every shard and check its sha256")
    c.add_argument("--list", action="store_true", help="list the versions and whether they are complete")
    c.add_argument("--json", action="store_true", help="print the manifest as JSON")
    c.add_argument(
        "--head", type=int, default=0, help="print the first N documents (id, domain, repetitions)"
    )
    c.set_defaults(func=_consume)


def _publish(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from tasks.publish.objectstore import ObjectStoreError

    try:
        return _publish_version(args)
    except (ObjectStoreError, BotoCoreError, ClientError) as exc:  # S3 said no: say what, without a traceback
        print(f"quarry publish: error: {exc}", file=sys.stderr)
        return 1


def _publish_version(args: argparse.Namespace) -> int:
    from tasks.publish import PublishConfig, publish_mixture
    from tasks.runner import ClusterConfig

    if not args.target:
        raise ValueError(f"give --to s3://bucket/prefix (or a directory), or set ${TARGET_ENV}")
    result = publish_mixture(
        PublishConfig(
            store=args.store,
            name=args.name,
            target=args.target,
            dry_run=args.dry_run,
            report=not args.no_report,
            max_rows_per_shard=args.max_rows_per_shard,
            max_missing_fraction=args.max_missing_fraction,
            sweep_id=args.sweep_id,
            cluster=ClusterConfig(address=args.scheduler, n_workers=None if args.scheduler else args.workers),
        )
    )
    print_summary(f"publish {args.name}", result.summary())
    print(result.url)
    return 0


def _consume(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from tasks.publish.objectstore import ObjectStoreError

    try:
        return _consume_version(args)
    except (
        ObjectStoreError,
        BotoCoreError,
        ClientError,
    ) as exc:  # a checksum mismatch, an incomplete version: a clear message, exit 1
        print(f"quarry consume: error: {exc}", file=sys.stderr)
        return 1


def _consume_version(args: argparse.Namespace) -> int:
    from tasks.publish.reader import list_versions, open_mixture

    if args.list:
        for info in list_versions(args.url):
            print(f"{info.label}\t{'complete' if info.complete else 'incomplete'}")
        return 0
    mix = open_mixture(args.url, args.version)
    m = mix.manifest
    if args.json:
        sys.stdout.write(m.to_bytes().decode())
    else:
        rows: dict[str, Any] = {
            "url": mix.url,
            "created": m.created_at,
            "shards": m.totals.shards,
            "unique documents": m.totals.unique_documents,
            "documents (with repetitions)": m.totals.documents,
            "tokens (with repetitions)": m.totals.tokens,
            "snapshots": ", ".join(m.lineage.snapshots),
            "sweep": m.lineage.sweep_id or "-",
            "fastText models": ", ".join(m.lineage.fasttext_model_versions) or "-",
        }
        rows.update({f"domain {k}": f"{v:.2%}" for k, v in m.proportions("domain").items()})
        rows.update({f"source {k}": f"{v:.2%}" for k, v in m.proportions("source").items()})
        print_summary(f"{m.name} {m.label}", rows)
    if args.head > 0:
        for i, doc in enumerate(mix.iter_documents(columns=("id", "domain", "repetitions"))):
            if i >= args.head:
                break
            print(json.dumps(doc, sort_keys=True))
    if args.verify:
        report = mix.verify()
        for problem in report.problems:
            print(f"MISMATCH {problem}", file=sys.stderr)
        print(f"verified {report.checked} file(s), {report.bytes:,} bytes: {'ok' if report.ok else 'FAILED'}")
        return 0 if report.ok else 1
    return 0
