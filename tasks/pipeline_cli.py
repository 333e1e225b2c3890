"""CLI: ``quarry run`` — every stage in order (the steps of the ``nightly_mixture`` DAG) without Airflow."""

from __future__ import annotations

import argparse
import json
from typing import Any

from tasks.progress import print_summary


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="the whole pipeline: ingest → models → score → sweep → mix → publish")
    p.add_argument("--shared-data", default="../shared/data")
    p.add_argument("--input", action="append", dest="inputs", help="crawl root or snapshot (repeatable)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--scheduler")
    p.add_argument("--rater-url", help="OpenAI-compatible vLLM URL (default: $QUARRY_RATER_URL or :8000)")
    p.add_argument("--model-version")
    p.add_argument("--sweep-id")
    p.add_argument("--mixture", default="nightly")
    p.add_argument("--publish-to", help="s3://bucket/prefix or a directory (default: <store>/published)")
    p.add_argument(
        "--no-bootstrap", action="store_true", help="fail instead of building missing models/sweep"
    )
    p.add_argument("--dry-run", action="store_true")
    p.add_argument(
        "--min-spearman",
        type=float,
        default=0.5,
        help="release gate: the sweep's held-out Spearman needed before the mixture may become latest "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--force-latest", action="store_true", help="move latest even when the mixture fails validation"
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tasks.pipeline import PipelineConfig, run_pipeline

    given: dict[str, Any] = {
        "store": args.store,
        "shared_data": args.shared_data,
        "workers": args.workers,
        "scheduler": args.scheduler,
        "model_version": args.model_version,
        "sweep_id": args.sweep_id,
        "mixture": args.mixture,
        "publish_to": args.publish_to,
        "bootstrap": not args.no_bootstrap,
        "dry_run": args.dry_run,
        "min_spearman": args.min_spearman,
        "force_latest": args.force_latest,
    }
    if args.inputs:
        given["inputs"] = tuple(args.inputs)
    if args.rater_url:
        given["rater_url"] = args.rater_url
    result = run_pipeline(PipelineConfig(**given))
    print_summary("quarry run", {k: json.dumps(v, default=str)[:120] for k, v in result.items()})
    print(json.dumps(result["publish"], indent=2))
    validation = result["publish"].get("validation") or {}
    print(f"validation {validation.get('verdict')}: {validation.get('reason')}")
    return 0
