"""``quarry score``: apply a model version's fastText models to every document (Dask) → attributes/scores."""

from __future__ import annotations

import argparse
from typing import Any

from tasks.score.stage import ScoreConfig, run_score


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "score",
        help="score every document with a distilled model version → attributes/scores/",
    )
    p.add_argument("--model-version", default="latest")
    p.add_argument("--snapshot", action="append", dest="snapshots")
    p.add_argument("--attribute-set", default="scores")
    p.add_argument("--batch-size", type=int, default=1000, help="documents per streamed record batch")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster workers (0: in-process)")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    p.add_argument("--force", action="store_true", help="rescore shards already scored with this version")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    run_score(
        ScoreConfig(
            store=args.store,
            model_version=args.model_version,
            snapshots=tuple(args.snapshots) if args.snapshots else None,
            attribute_set=args.attribute_set,
            batch_size=args.batch_size,
            n_workers=args.workers,
            scheduler=args.scheduler,
            force=args.force,
        )
    )
    return 0
