"""datatrove's FineWeb-style ingest on the benchmark's WARC files, one task, one process (+ its extraction
sandbox). Run by bench/bench_ingest.py with .venv-bench-datatrove/bin/python; prints one BENCH_RESULT line.

Pipeline (FineWeb's recipe, without the URL blocklist, which Quarry does not have either):
WarcReader -> Trafilatura(favour_precision) | Resiliparse -> LanguageFilter(fastText lid.176, local path)
-> GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter(filter_no_terminal_punct=False)
-> FineWebQualityFilter -> JsonlWriter.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Region, emit
from dt_common import ResiliparseExtractor, language_filter, step_stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--input", required=True, help="folder holding the .warc.gz files (searched recursively)"
    )
    parser.add_argument("--output", required=True, help="work folder (documents + logs), must be empty")
    parser.add_argument("--extractor", choices=("trafilatura", "resiliparse"), default="trafilatura")
    parser.add_argument(
        "--lid", required=True, help="path of a fastText language-ID model (lid.176.ftz/.bin)"
    )
    parser.add_argument("--languages", default="en", help="comma-separated languages to keep ('' = all)")
    parser.add_argument("--threshold", type=float, default=0.65, help="minimum language score")
    parser.add_argument("--timeout", type=float, default=5.0, help="per-page extraction timeout (s)")
    args = parser.parse_args()

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    extractor = (
        Trafilatura(favour_precision=True, timeout=args.timeout)
        if args.extractor == "trafilatura"
        else ResiliparseExtractor(timeout=args.timeout)
    )
    out = Path(args.output)
    pipeline = [
        WarcReader(args.input, glob_pattern="**/*.warc.gz"),
        extractor,
        language_filter(args.lid, [x for x in args.languages.split(",") if x] or None, args.threshold),
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        JsonlWriter(str(out / "documents")),
    ]
    executor = LocalPipelineExecutor(
        pipeline, tasks=1, workers=1, logging_dir=str(out / "logs"), skip_completed=False
    )
    with Region() as region:
        stats = executor.run()
    steps = step_stats(stats)
    reader = steps[0]["stats"]
    writer = steps[-1]["stats"]
    emit(
        {
            **region.as_dict(),
            "records": int(reader.get("documents", 0)),
            "kept": int(writer.get("total", 0)),
            "steps": json.loads(json.dumps(steps, default=str)),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
