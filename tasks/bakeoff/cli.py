"""CLI: ``quarry bakeoff`` (the selection-method bake-off on a sweep's corpus sample)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from tasks.bakeoff.settings import DEFAULT_METHODS, KNOWN_METHODS


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bakeoff",
        help="selection methods side by side at a matched token budget on a sweep's sample (same proxies, seeds)",
    )
    p.add_argument("--sweep", default="latest", help="sweep id, or 'latest' (default)")
    p.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help=f"comma-separated arms from {', '.join(KNOWN_METHODS)} (default: %(default)s)",
    )
    p.add_argument("--seeds", type=int, default=3, help="proxies per arm, the same seeds in every arm (>= 3)")
    p.add_argument(
        "--budget-fraction", type=float, default=0.5, help="share of the pool's tokens each arm selects"
    )
    p.add_argument("--token-budget", type=int, default=0, help="training tokens per proxy (0: the sweep's)")
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=[FORMAT:]PATH",
        help="target set for the target-based methods and the losses (repeatable; default: the sweep's)",
    )
    p.add_argument(
        "--eval-dir",
        default=os.environ.get("QUARRY_EVAL_DIR", ""),
        help="high-quality reference sources (default: beside the sweep's targets, else ../shared/data/eval)",
    )
    p.add_argument("--reference-chars", type=int, default=300_000, help="text read per reference source")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="auto, cuda, cpu (default: the sweep's)")
    p.set_defaults(func=_bakeoff)


def _bakeoff(args: argparse.Namespace) -> int:
    from tasks.bakeoff.runner import bakeoff_url, run_bakeoff
    from tasks.bakeoff.settings import BakeoffSettings, parse_methods
    from tasks.progress import print_summary
    from tasks.sweep.stage import resolve_sweep_id

    sweep_id = resolve_sweep_id(args.store, args.sweep)
    settings = BakeoffSettings(
        methods=parse_methods(args.methods),
        seeds=args.seeds,
        budget_fraction=args.budget_fraction,
        token_budget=args.token_budget,
        targets=tuple(args.target),
        eval_dir=args.eval_dir or "",
        reference_chars=args.reference_chars,
        seed=args.seed,
    )
    report = run_bakeoff(args.store, sweep_id, settings, device=args.device)
    rows: dict[str, Any] = {"sweep": sweep_id, "summary": report["summary"]}
    for arm in report["arms"]:
        if arm["status"] != "ok":
            rows[arm["method"]] = f"{arm['status']}: {arm.get('reason', '')}"
            continue
        t = arm["metrics"]["target"]
        rows[arm["method"]] = (
            f"target {t['mean']:.4f} (±{(t['interval95'][1] or t['mean']) - t['mean']:.4f}), "
            f"{arm['selection']['selected_tokens']:,.0f} tokens ({arm['selection']['budget_ratio']:.3f} × budget)"
        )
    rows["table"] = bakeoff_url(args.store, sweep_id, "bakeoff.md")
    print_summary("bake-off", rows)
    return 0
