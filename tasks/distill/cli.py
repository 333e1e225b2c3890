"""``quarry distill``: train the fastText models (one per criterion, one for domain) from the ratings."""

from __future__ import annotations

import argparse
from typing import Any

from tasks.distill.stage import DistillConfig, run_distill


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "distill",
        help="fastText models from LLM ratings → models/<version>/",
        description="Train one fastText classifier per rated criterion (and domain); writes a model card.",
    )
    p.add_argument("--ratings", default="default", help="ratings set name (ratings/<name>/)")
    p.add_argument("--criteria", default=None, help="comma-separated subset of the rated criteria")
    p.add_argument("--version", default=None, help="model version name (default: hash of ratings + settings)")
    p.add_argument("--bins", type=int, default=5, help="quantile bins per score")
    p.add_argument("--dim", type=int, default=32)
    p.add_argument("--epoch", type=int, default=50)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--word-ngrams", type=int, default=2)
    p.add_argument("--bucket", type=int, default=200_000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-train-rows", type=int, default=20)
    p.add_argument(
        "--allow-incomplete", action="store_true", help="distil ratings the rate stage did not finish"
    )
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    result = run_distill(
        DistillConfig(
            store=args.store,
            ratings=args.ratings,
            criteria=tuple(c.strip() for c in args.criteria.split(",")) if args.criteria else None,
            version=args.version,
            n_bins=args.bins,
            dim=args.dim,
            epoch=args.epoch,
            lr=args.lr,
            word_ngrams=args.word_ngrams,
            bucket=args.bucket,
            threads=args.threads,
            min_train_rows=args.min_train_rows,
            allow_incomplete=args.allow_incomplete,
        )
    )
    print(result.version)
    return 0
