"""CLI: ``quarry mix`` (apply a sampling function to the scored corpus → a mixture)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "mix", help="apply a sampling function (a sweep's choice, or a baseline) → mixtures/<name>/"
    )
    p.add_argument("--name", required=True, help="mixture name (immutable; rerun to resume)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--sweep", help="use the chosen parameters of this sweep id ('latest': the last one)")
    src.add_argument("--spec", help="a sampling function as a JSON file (see tasks/mix/sampling.py)")
    src.add_argument("--baseline", choices=["uniform", "topk", "gumbel"], help="a baseline sampling function")
    p.add_argument("--rate", type=float, default=1.0, help="uniform: sampling value of every document")
    p.add_argument("--criterion", default="educational_value", help="topk, gumbel: the score to rank by")
    p.add_argument("--keep", type=float, default=0.3, help="topk, gumbel: share of tokens kept")
    p.add_argument(
        "--temperature", type=float, default=2.0, help="gumbel: τ of QuRating's sampling p ∝ exp(score / τ)"
    )
    p.add_argument(
        "--normalize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="gumbel: z-normalise the criterion before exp(s / τ) (default: on, off for dsir, whose log "
        "importance weights with τ = 1 are DSIR's resampling)",
    )
    p.add_argument("--snapshot", action="append", default=[], help="snapshot(s) (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--domain-column", choices=["domain", "cluster"], default="domain")
    p.add_argument("--workers", type=int, help="LocalCluster workers (0: run in this process)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler")
    p.set_defaults(func=_mix)


def _mix(args: argparse.Namespace) -> int:
    from tasks.mix import MixConfig, run_mix
    from tasks.progress import print_summary
    from tasks.runner import ClusterConfig
    from tasks.storage import read_json

    spec: dict[str, Any] | None = None
    if args.spec:
        spec = read_json(args.spec)
    elif args.baseline == "uniform":
        spec = {"kind": "uniform", "rate": args.rate}
    elif args.baseline == "topk":
        spec = {"kind": "topk", "criterion": args.criterion, "keep_fraction": args.keep}
    elif args.baseline == "gumbel":
        spec = {
            "kind": "gumbel",
            "criterion": args.criterion,
            "keep_fraction": args.keep,
            "temperature": args.temperature,
            "normalize": (args.criterion != "dsir") if args.normalize is None else args.normalize,
        }
    cluster = (
        ClusterConfig(address=args.scheduler, n_workers=args.workers)
        if (args.scheduler or args.workers is not None)
        else None
    )
    result = run_mix(
        MixConfig(
            store=args.store,
            name=args.name,
            spec=spec,
            sweep_id=args.sweep,
            snapshots=tuple(args.snapshot),
            seed=args.seed,
            domain_column=args.domain_column,
            cluster=cluster,
        )
    )
    card = _record_selection_card(args.store, result.root, spec)
    rows: dict[str, Any] = {
        "mixture": result.name,
        "output": result.root,
        "documents": result.documents,
        "tokens": result.tokens,
    }
    for d, p in sorted(result.proportions.items()):
        rows[f"proportion: {d}"] = p
    skipped = result.summary["corpus"]["shards_skipped"]
    if skipped:
        rows["shards skipped"] = json.dumps(skipped)
    if card:
        rows["selection scores"] = card
    print_summary(f"mix {result.name}", rows)
    return 0


def _record_selection_card(store: str, root: str, spec: dict[str, Any] | None) -> str:
    """A mixture sampled by a selection score (``dsir``/``dclm``, from ``quarry selection-scores``) gets a copy
    of that method's card (its version, targets, bucket count) as ``selection_<method>.json``; returns its url."""
    from tasks.methods.corpus_scores import METHODS, selection_card
    from tasks.storage import Store, exists, join, write_json_atomic

    criterion = (spec or {}).get("criterion")
    if criterion not in METHODS:
        return ""
    card = selection_card(Store(store), criterion)
    url = join(root, f"selection_{criterion}.json")
    if card is not None and not exists(url):
        write_json_atomic(url, card)
    return url if card is not None else ""
