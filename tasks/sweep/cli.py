"""CLI: ``quarry sweep`` (plan → train proxies → fit → search → validate → report)."""

from __future__ import annotations

import argparse
import os
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sweep", help="proxy sweep: sampling-function parameters → proxy losses → chosen mixture"
    )
    p.add_argument("--id", dest="sweep_id", required=True, help="sweep id (immutable; rerun to resume)")
    p.add_argument("--snapshot", action="append", default=[], help="snapshot(s) to sample (default: all)")
    p.add_argument("--mode", choices=["quadmix", "regmix"], default="quadmix")
    p.add_argument("--proxies", type=int, default=64, help="number of parameter draws / proxy runs")
    p.add_argument("--token-budget", type=int, default=20_000_000, help="training tokens (bytes) per proxy")
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=[FORMAT:]PATH",
        help="target set (repeatable; formats text, jsonl, mmlu, hellaswag, parquet)",
    )
    p.add_argument(
        "--eval-dir",
        default=os.environ.get("QUARRY_EVAL_DIR"),
        help="without --target: wikitext2, hellaswag, mmlu under this dir (default $QUARRY_EVAL_DIR)",
    )
    p.add_argument("--target-max-bytes", type=int, default=2_000_000)
    p.add_argument("--objective", default="mean", help="a target name, 'heldout' or 'mean' (of the targets)")
    p.add_argument("--search-size", type=int, default=100_000)
    p.add_argument("--top-k", type=int, default=100)
    p.add_argument("--model", choices=["regmix-1m", "small", "tiny"], default="regmix-1m")
    p.add_argument("--seq-len", type=int, help="override the model's context length")
    p.add_argument("--batch-size", type=int, default=16, help="sequences per step per proxy")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-tokens", type=int, default=131_072, help="tokens per target set")
    p.add_argument("--group-size", type=int, default=64, help="proxies trained together on one device")
    p.add_argument("--sample-tokens", type=int, default=50_000_000)
    p.add_argument("--heldout-documents", type=int, default=2000)
    p.add_argument("--validation-seeds", type=int, default=3, help="seeds per arm (at least 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cuda, cuda:1, cpu")
    p.add_argument(
        "--workers", type=int, default=0, help="LocalCluster workers for the groups (0: in process)"
    )
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (GPU workers)")
    p.add_argument("--gpu-resource", help="Dask worker resource each group needs, e.g. GPU")
    p.set_defaults(func=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from tasks.progress import print_summary
    from tasks.runner import ClusterConfig
    from tasks.sweep import ProxyModelConfig, SweepConfig, TargetSpec, TrainConfig, default_targets, run_sweep

    if args.target:
        targets = tuple(TargetSpec.parse(t, max_bytes=args.target_max_bytes) for t in args.target)
    elif args.eval_dir:
        targets = default_targets(args.eval_dir)
    else:
        raise ValueError("give --target NAME=PATH (repeatable) or --eval-dir (or set $QUARRY_EVAL_DIR)")
    overrides = {"seq_len": args.seq_len} if args.seq_len else {}
    config = SweepConfig(
        store=args.store,
        sweep_id=args.sweep_id,
        targets=targets,
        snapshots=tuple(args.snapshot),
        mode=args.mode,
        n_proxies=args.proxies,
        token_budget=args.token_budget,
        objective=args.objective,
        search_size=args.search_size,
        top_k=args.top_k,
        model=ProxyModelConfig.preset(args.model, **overrides),
        train=TrainConfig(batch_size=args.batch_size, lr=args.lr, eval_tokens=args.eval_tokens),
        group_size=args.group_size,
        sample_tokens=args.sample_tokens,
        heldout_documents=args.heldout_documents,
        validation_seeds=args.validation_seeds,
        seed=args.seed,
        device=args.device,
        cluster=ClusterConfig(
            address=args.scheduler or os.environ.get("QUARRY_DASK_SCHEDULER") or None, n_workers=args.workers
        ),
        gpu_resource=args.gpu_resource,
    )
    result = run_sweep(config)
    rows: dict[str, Any] = {
        "sweep": result.sweep_id,
        "output": result.root,
        "proxy runs": result.n_runs,
        "completed": result.n_completed,
        "failed / diverged / empty": result.n_failed,
        "held-out Spearman": result.spearman,
    }
    for name, loss in sorted(result.objective_losses.items()):
        rows[f"objective loss: {name}"] = loss
    if result.failed_groups:
        rows["failed groups"] = ", ".join(sorted(result.failed_groups))
    print_summary(f"sweep {result.sweep_id}", rows)
    return 0
