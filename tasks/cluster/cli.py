"""``quarry cluster``: fit k-means clusters on embeddings of a sample and label every document."""

from __future__ import annotations

import argparse
from typing import Any

from tasks.cluster.stage import ClusterRunConfig, run_cluster


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "cluster",
        help="embed + k-means a sample, assign every document a cluster → attributes/clusters/",
    )
    p.add_argument("--k", type=int, default=16)
    p.add_argument("--sample-size", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--version", default=None, help="cluster version (default: derived; 'latest': reuse last)")
    p.add_argument("--snapshot", action="append", dest="snapshots")
    p.add_argument("--max-seq-length", type=int, default=256)
    p.add_argument("--no-assign", action="store_true", help="only fit the clusters")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--scheduler", default=None)
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    run_cluster(
        ClusterRunConfig(
            store=args.store,
            k=args.k,
            sample_size=args.sample_size,
            seed=args.seed,
            version=args.version,
            snapshots=tuple(args.snapshots) if args.snapshots else None,
            max_seq_length=args.max_seq_length,
            assign=not args.no_assign,
            n_workers=args.workers,
            scheduler=args.scheduler,
            force=args.force,
        )
    )
    return 0
