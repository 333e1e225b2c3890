"""datatrove's MinHash dedup steps on the benchmark's JSONL documents, one step per process so each step's
time and memory are measured on their own. Run by bench/bench_dedup.py with .venv-bench-datatrove/bin/python.

    --step signatures : JsonlReader -> MinhashDedupSignature           (1 task)
    --step buckets    : MinhashDedupBuckets                            (14 tasks = one per band, run one by one)
    --step cluster    : MinhashDedupCluster                            (1 task)

MinhashConfig() defaults are FineWeb's and Quarry's: 5-gram shingles, 14 buckets x 8 hashes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Region, current_rss_mib, emit, max_rss_mib
from dt_common import step_stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--step", choices=("signatures", "buckets", "cluster"), required=True)
    parser.add_argument("--input", help="folder of .jsonl.gz documents (signatures step)")
    parser.add_argument("--work", required=True, help="work folder shared by the three steps")
    args = parser.parse_args()

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader

    config = MinhashConfig()
    work = Path(args.work)
    tasks = 1
    if args.step == "signatures":
        pipeline = [
            JsonlReader(args.input, glob_pattern="*.jsonl.gz"),
            MinhashDedupSignature(output_folder=str(work / "signatures"), config=config),
        ]
    elif args.step == "buckets":
        pipeline = [
            MinhashDedupBuckets(
                input_folder=str(work / "signatures"), output_folder=str(work / "buckets"), config=config
            )
        ]
        tasks = config.num_buckets
    else:
        pipeline = [
            MinhashDedupCluster(
                input_folder=str(work / "buckets"), output_folder=str(work / "remove_ids"), config=config
            )
        ]
    executor = LocalPipelineExecutor(
        pipeline, tasks=tasks, workers=1, logging_dir=str(work / "logs" / args.step), skip_completed=False
    )
    rss_before = current_rss_mib()
    with Region() as region:
        stats = executor.run()
    steps = step_stats(stats)
    last = steps[-1]
    emit(
        {
            **region.as_dict(),
            "rss_before_mib": rss_before,
            "max_rss_mib": max_rss_mib(),
            "step_time_s": last["time_s"],
            "documents": int(steps[0]["stats"].get("documents", 0)) if args.step == "signatures" else None,
            "to_remove": int(last["stats"].get("to_remove", 0)) if args.step == "cluster" else None,
            "steps": steps,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
