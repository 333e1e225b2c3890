"""CLI: ``quarry ingest``, ``quarry dedup``, ``quarry sample-snapshot``, ``quarry eval-extraction``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tasks.progress import print_summary


def register(sub: Any) -> None:
    p = sub.add_parser("ingest", help="crawl snapshot (WARC/WET/JSONL) -> documents/ + attributes/")
    p.add_argument(
        "input", help="crawl root, snapshot root (Common Crawl layout), flat folder or file; local or s3://"
    )
    p.add_argument(
        "--snapshot",
        help="snapshot id: of a crawl root, the crawl-data/<id> to ingest (default: the newest); "
        "else the name (default: from crawl-data/<id>/ or the folder name)",
    )
    p.add_argument(
        "--format",
        choices=["auto", "warc", "wet"],
        default="auto",
        help="WARC or WET, never both (auto: WARC when the input has any, else WET)",
    )
    sample = p.add_mutually_exclusive_group()
    sample.add_argument(
        "--sample-files",
        type=int,
        help="ingest N files chosen by a hash of their capture name (deterministic)",
    )
    sample.add_argument(
        "--sample-fraction", type=float, help="ingest this fraction of the files (hash-based)"
    )
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the file sample")
    p.add_argument(
        "--no-listing",
        action="store_true",
        help="list the store instead of reading crawl-data/<id>/{warc,wet}.paths.gz",
    )
    p.add_argument("--list-page-size", type=int, default=1000, help="keys per S3 listing call")
    p.add_argument(
        "--file-retries", type=int, default=3, help="retries of an unreadable file before it is quarantined"
    )
    p.add_argument("--workers", type=int, help="LocalCluster workers (0: run in this process)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler")
    p.add_argument("--no-dedup", action="store_true", help="skip the snapshot-wide dedup")
    p.add_argument(
        "--recipe",
        default=None,
        help="filtering recipe: fineweb (English, FineWeb) or fineweb2 (multilingual, FineWeb2; the default)",
    )
    p.add_argument(
        "--recipe-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a recipe option, e.g. c4_line_removal=false (repeatable; see tasks/ingest/recipes/)",
    )
    p.add_argument("--filters", help="comma-separated filters of the recipe to run (default: all)")
    p.add_argument("--languages", help="comma-separated ISO codes to keep (default: the recipe's)")
    p.add_argument("--min-language-score", type=float, default=None, help="(default: the recipe's)")
    p.add_argument("--max-page-bytes", type=int, default=10 * 1024 * 1024)
    p.set_defaults(func=_ingest)

    d = sub.add_parser("dedup", help="(re)run exact + MinHash dedup of an ingested snapshot")
    d.add_argument("snapshot")
    d.add_argument(
        "--retire",
        action="store_true",
        help="remove the snapshot from the cross-snapshot dedup index (retention); later snapshots stop "
        "comparing against it",
    )
    d.set_defaults(func=_dedup)

    s = sub.add_parser(
        "sample-snapshot", help="wrap the trafilatura eval pages into a CC-layout WARC snapshot"
    )
    s.add_argument("out", help="output folder (crawl-data/<snapshot>/... is created inside)")
    s.add_argument("--shared-data", default="../shared/data")
    s.add_argument("--snapshot", default=None)
    s.add_argument("--repeat", type=int, default=1, help="write the pages N times (benchmarks)")
    s.set_defaults(func=_sample)

    e = sub.add_parser(
        "eval-extraction", help="score extraction against evaldata.json must/must-not snippets"
    )
    e.add_argument("snapshot")
    e.add_argument("evaldata", help="path of evaldata.json (written by sample-snapshot)")
    e.add_argument(
        "--fold-case",
        action="store_true",
        help="lower-case texts and snippets before matching (trafilatura's own scorer is case-sensitive)",
    )
    e.set_defaults(func=_eval)


def _ingest(args: argparse.Namespace) -> int:
    from tasks.ingest import ExtractSettings, FilterConfig, IngestConfig, InputSelection, run_ingest

    filters: dict[str, Any] = {"min_language_score": args.min_language_score}
    if args.recipe:
        filters["recipe"] = args.recipe
    if args.recipe_option:
        filters["options"] = dict(_option(x) for x in args.recipe_option)
    if args.filters:
        filters["enabled"] = tuple(f.strip() for f in args.filters.split(",") if f.strip())
    if args.languages:
        filters["languages"] = tuple(x.strip() for x in args.languages.split(",") if x.strip())
    config = IngestConfig(
        input=args.input,
        store=args.store,
        snapshot=args.snapshot,
        select=InputSelection(
            crawl_format=args.format,
            use_listing=not args.no_listing,
            sample_files=args.sample_files,
            sample_fraction=args.sample_fraction,
            sample_seed=args.sample_seed,
            list_page_size=args.list_page_size,
            file_retries=args.file_retries,
        ),
        workers=args.workers,
        scheduler=args.scheduler,
        filters=FilterConfig(**filters),
        extract=ExtractSettings(max_page_bytes=args.max_page_bytes),
    )
    result = run_ingest(config, dedup=not args.no_dedup)
    print_summary(f"ingest {result.snapshot}", result.summary())
    if result.filter_drops:
        print_summary(
            "drops by filter rule", dict(sorted(result.filter_drops.items(), key=lambda kv: -kv[1]))
        )
    return 0


def _option(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--recipe-option {text!r}: expected NAME=VALUE")
    try:
        parsed: Any = json.loads(value.lower() if value.lower() in ("true", "false") else value)
    except json.JSONDecodeError:
        parsed = value
    return name.strip(), parsed


def _dedup(args: argparse.Namespace) -> int:
    from tasks.ingest import DedupConfig, run_dedup

    if args.retire:
        from tasks.dedup import remove_from_index

        was = remove_from_index(args.store, args.snapshot)
        print_summary(f"dedup index: retired {args.snapshot}", {"was indexed": was})
        return 0
    result = run_dedup(args.store, args.snapshot, DedupConfig())
    print_summary(f"dedup {args.snapshot}", result.as_dict())
    return 0


def _sample(args: argparse.Namespace) -> int:
    from tasks.ingest.sample_snapshot import DEFAULT_SNAPSHOT, make_sample_snapshot

    files = make_sample_snapshot(
        Path(args.shared_data), args.out, args.snapshot or DEFAULT_SNAPSHOT, repeat=args.repeat
    )
    print_summary("sample snapshot", {"files": len(files), "first": files[0] if files else "-"})
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tasks.ingest.evaluate import evaluate_extraction

    report = evaluate_extraction(args.store, args.snapshot, args.evaldata, fold_case=args.fold_case)
    print_summary(f"extraction quality {args.snapshot}", report.as_dict())
    print(json.dumps(report.as_dict()))
    return 0
