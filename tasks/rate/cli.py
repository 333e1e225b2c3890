"""``quarry rate``: rate a stratified sample with the LLM raters on a vLLM (OpenAI-compatible) server."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tasks.rate.client import RaterError, RaterUnavailable
from tasks.rate.criteria import known_criteria
from tasks.rate.stage import ALL_CRITERIA, RateConfig, run_rate


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "rate",
        help="LLM-rate a stratified document sample → ratings/<name>/",
        description="Rate a stratified sample (per language and domain) on each criterion, scores from logprobs.",
    )
    p.add_argument(
        "--rater-url",
        "--server-url",
        dest="server_url",
        default=os.environ.get("QUARRY_RATER_URL", "http://127.0.0.1:8000/v1"),
        help="OpenAI-compatible base URL (vLLM); default: $QUARRY_RATER_URL or http://127.0.0.1:8000/v1",
    )
    p.add_argument(
        "--criteria",
        default=",".join(ALL_CRITERIA),
        help=f"comma-separated, from: {', '.join(known_criteria())} (default: every absolute criterion; "
        "pairwise_* criteria (QuRating: A-or-B comparisons aggregated by Bradley-Terry) only when named)",
    )
    p.add_argument(
        "--pairwise-comparisons",
        type=int,
        default=8,
        help="pairwise criteria: comparisons per page (each asked in both orders)",
    )
    p.add_argument("--sample-size", type=int, default=1000)
    p.add_argument("--name", default="default", help="ratings set name (ratings/<name>/)")
    p.add_argument("--snapshot", action="append", dest="snapshots", help="restrict to snapshot(s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--heldout-fraction", type=float, default=0.2)
    p.add_argument("--max-doc-tokens", type=int, default=1024, help="documents are cut (head + tail) to fit")
    p.add_argument("--model", default=None, help="served model id (default: the server's first)")
    p.add_argument("--api", choices=("completions", "chat"), default="completions")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--max-retries", type=int, default=4)
    p.add_argument("--max-requests", type=int, default=None, help="request budget for this run")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    config = RateConfig(
        store=args.store,
        server_url=args.server_url,
        criteria=tuple(c.strip() for c in args.criteria.split(",") if c.strip()),
        sample_size=args.sample_size,
        name=args.name,
        snapshots=tuple(args.snapshots) if args.snapshots else None,
        seed=args.seed,
        heldout_fraction=args.heldout_fraction,
        max_doc_tokens=args.max_doc_tokens,
        model=args.model,
        api=args.api,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        max_retries=args.max_retries,
        max_requests=args.max_requests,
        pairwise_comparisons=args.pairwise_comparisons,
    )
    try:
        result = run_rate(config)
    except (RaterUnavailable, RaterError) as exc:
        print(f"quarry rate: error: {exc}", file=sys.stderr)
        return 3
    if not result.complete:
        print(
            f"quarry rate: incomplete (budget exhausted: {result.budget_exhausted}); rerun to resume",
            file=sys.stderr,
        )
        return 1
    return 0
