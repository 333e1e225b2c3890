"""quarry: one entry point, one subcommand per stage; each calls the same plain function as the Airflow task.

Stage modules register themselves through a ``register(subparsers)`` function listed in STAGE_CLI_MODULES.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

# Each module defines ``register(subparsers) -> None`` and sets ``func`` on its parser(s).
STAGE_CLI_MODULES: tuple[str, ...] = (
    "tasks.ingest.cli",
    "tasks.publish.cli",
    "tasks.export.cli",
    "tasks.report.cli",
    "tasks.rate.cli",
    "tasks.distill.cli",
    "tasks.score.cli",
    "tasks.cluster.cli",
    "tasks.sweep.cli",
    "tasks.bakeoff.cli",
    "tasks.mix.cli",
    "tasks.methods.cli",
    "tasks.pipeline_cli",
)

DEFAULT_STORE = "quarry-data"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quarry",
        description="Curate web-crawl snapshots into versioned, optimised pretraining data mixtures. "
        "Each command runs one stage (the same function the Airflow task calls); `quarry run` runs them all.",
    )
    parser.add_argument(
        "--store",
        default=os.environ.get("QUARRY_STORE", DEFAULT_STORE),
        help="data store root: a local directory or s3://bucket/prefix (default: $QUARRY_STORE or ./quarry-data)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in STAGE_CLI_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("quarry.progress").setLevel(logging.INFO)  # progress lines off a terminal
    try:
        code = args.func(args)
    except (FileNotFoundError, PermissionError, ValueError) as exc:
        print(f"quarry {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    raise SystemExit(main())
