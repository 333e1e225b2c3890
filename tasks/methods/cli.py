"""CLI: ``quarry selection-scores`` (DSIR / DCLM scores of the whole corpus → ``attributes/selection``)."""

from __future__ import annotations

import argparse
import os
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "selection-scores",
        help="score every document by DSIR (log importance weight) or DCLM (P(hq)) → attributes/selection/, "
        "for `quarry mix --criterion dsir|dclm`",
    )
    p.add_argument("--method", choices=["dsir", "dclm"], required=True)
    p.add_argument(
        "--target", action="append", default=[], help="dsir: target set NAME=[FORMAT:]PATH (repeatable)"
    )
    p.add_argument("--target-max-bytes", type=int, default=2_000_000)
    p.add_argument(
        "--eval-dir",
        default=os.environ.get("QUARRY_EVAL_DIR", ""),
        help="dclm: the high-quality reference's directory; dsir without --target: wikitext2, hellaswag, mmlu "
        "under it (default $QUARRY_EVAL_DIR)",
    )
    p.add_argument("--snapshot", action="append", default=[], help="snapshot(s) (default: all)")
    p.add_argument("--buckets", type=int, default=10_000, help="dsir: hashed n-gram buckets")
    p.add_argument("--sample-size", type=int, default=4000, help="dclm: corpus documents trained against")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="redo finished shards")
    p.add_argument("--workers", type=int, help="LocalCluster workers (default: shards run in this process)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler")
    p.set_defaults(func=_selection_scores)


def _selection_scores(args: argparse.Namespace) -> int:
    from tasks.methods.corpus_scores import SelectionScoresConfig, run_selection_scores
    from tasks.progress import print_summary
    from tasks.sweep.targets import TargetSpec, default_targets

    targets: tuple[TargetSpec, ...] = ()
    if args.method == "dsir":
        if args.target:
            targets = tuple(TargetSpec.parse(t, max_bytes=args.target_max_bytes) for t in args.target)
        elif args.eval_dir:
            targets = default_targets(args.eval_dir)
        else:
            raise ValueError("dsir: give --target NAME=PATH (repeatable) or --eval-dir")
    result = run_selection_scores(
        SelectionScoresConfig(
            store=args.store,
            method=args.method,
            snapshots=tuple(args.snapshot),
            targets=targets,
            eval_dir=args.eval_dir,
            buckets=args.buckets,
            seed=args.seed,
            sample_size=args.sample_size,
            force=args.force,
            workers=args.workers,
            scheduler=args.scheduler,
        )
    )
    print_summary(
        f"selection-scores {result.method}",
        {
            "version": result.version,
            "shards written": len(result.shards_written),
            "shards already done": len(result.shards_skipped),
            "documents scored": result.documents,
            "targets": ", ".join(t.name for t in targets) or "-",
            "next": str(result.card.get("usage", "")),
        },
    )
    return 0
