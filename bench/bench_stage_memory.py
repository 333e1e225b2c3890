"""Peak memory of the corpus-wide passes that run in one process (docs/SCALE.md): the rate/cluster sample
(``tasks.rate.sample.stratified_sample``) and the mix stage's driver (``tasks.mix.run_mix``, in process).

A synthetic scored store is written once per size (``documents/`` with short texts, ``attributes/scores`` with a
domain among 15 and 5 criteria, ``attributes/dedup`` with 3 % duplicates), in shards of ``--shard-docs`` documents.
Each measurement runs in its own child process; its peak RSS (VmHWM) and its RSS right after the imports are
reported, so "growth" is what the pass itself added. With ``--old-mix REV`` the mix stage of git revision REV is
measured too (the driver that merged every shard's sketches in one call).

    .venv/bin/python bench/bench_stage_memory.py --docs 250000,1000000 [--old-mix 356c035~1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = [f"domain-{i:02d}" for i in range(15)]
CRITERIA = ("educational_value", "professionalism", "readability", "reasoning", "cleanliness")
SNAPSHOT = "SYN-2026-01"


def _vm(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def build_store(root: Path, docs: int, shard_docs: int) -> None:
    import numpy as np
    import pyarrow as pa

    from tasks.storage import Store, write_parquet_atomic

    store = Store(str(root))
    rng = np.random.default_rng(0)
    for s, start in enumerate(range(0, docs, shard_docs)):
        n = min(shard_docs, docs - start)
        shard = f"shard-{s:05d}"
        ids = [f"{i:016x}" for i in range(start, start + n)]
        langs = rng.choice(["en", "de", "fr", "es"], n, p=[0.7, 0.1, 0.1, 0.1])
        write_parquet_atomic(
            store.document_shard(SNAPSHOT, shard),
            pa.table(
                {
                    "id": ids,
                    "url": [f"https://syn.test/{i}" for i in ids],
                    "text": [f"text of document {i}" for i in ids],
                    "language": langs.tolist(),
                    "n_tokens": rng.integers(50, 2000, n),
                }
            ),
        )
        scores = {"id": ids, "domain": rng.choice(DOMAINS, n).tolist()}
        scores.update({c: rng.normal(size=n) for c in CRITERIA})
        write_parquet_atomic(store.attribute_shard("scores", SNAPSHOT, shard), pa.table(scores))
        write_parquet_atomic(
            store.attribute_shard("dedup", SNAPSHOT, shard),
            pa.table({"id": ids, "is_duplicate": rng.random(n) < 0.03}),
        )


def measure(kind: str, store: str, old_mix: str | None) -> dict[str, float]:
    import numpy as np

    from tasks.mix.sampling import QUALITY_CRITERIA
    from tasks.mix.specs import DomainParams, QuaDMixSpec
    from tasks.rate.sample import stratified_sample
    from tasks.runner import ClusterConfig

    if kind == "mix-old":
        import importlib.util

        spec_ = importlib.util.spec_from_file_location("old_mix_stage", old_mix)
        assert spec_ is not None and spec_.loader is not None
        module = importlib.util.module_from_spec(spec_)
        sys.modules["old_mix_stage"] = module  # dataclasses look their module up
        spec_.loader.exec_module(module)
        config_cls, run = module.MixConfig, module.run_mix
    else:
        from tasks.mix import MixConfig as config_cls
        from tasks.mix import run_mix as run
    before = _vm("VmRSS")
    start = time.perf_counter()
    if kind == "sample":
        table = stratified_sample(__import__("tasks.storage").storage.Store(store), 1000, seed=0)
        out = {"rows": float(len(table))}
    else:
        rng = np.random.default_rng(3)
        spec = QuaDMixSpec(
            criteria=QUALITY_CRITERIA,
            domains={
                d: DomainParams(
                    alpha=tuple(rng.uniform(0.1, 1, len(QUALITY_CRITERIA))),
                    lam=30.0,
                    omega=0.6,
                    eta=1.0,
                    eps=0.05,
                )
                for d in DOMAINS
            },
        ).to_json()
        name = f"m-{kind}-{time.time_ns()}"
        result = run(config_cls(store=store, name=name, spec=spec, cluster=ClusterConfig(n_workers=0)))
        out = {"rows": float(result.documents)}
    out.update(seconds=time.perf_counter() - start, rss_before=before, peak=_vm("VmHWM"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", default="250000,1000000")
    parser.add_argument("--shard-docs", type=int, default=10_000)
    parser.add_argument(
        "--old-mix", default=None, help="git revision whose tasks/mix/stage.py to measure too"
    )
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--passes", default="sample,mix,mix-old", help="which of sample, mix, mix-old to run")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "STORE", "OLD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, store, old = args.child
        print(json.dumps(measure(kind, store, old if old != "-" else None)))
        return
    work = Path(args.workdir or tempfile.mkdtemp(prefix="quarry-stage-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    old_file = "-"
    if args.old_mix:
        old_file = str(work / "old_mix_stage.py")
        Path(old_file).write_text(
            subprocess.run(
                ["git", "show", f"{args.old_mix}:tasks/mix/stage.py"],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
    kinds = [k for k in args.passes.split(",") if k != "mix-old" or args.old_mix]
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} | load average {os.getloadavg()[0]:.2f} | "
        f"shards of {args.shard_docs:,} documents, 15 domains, 5 criteria, in-process (no Dask workers)\n"
    )
    print("| documents | shards | pass | seconds | RSS after imports MiB | peak RSS MiB | growth MiB |")
    print("|---|---|---|---|---|---|---|")
    for docs in [int(x) for x in args.docs.split(",")]:
        store = work / f"store-{docs}"
        if not (store / "documents").exists():
            build_store(store, docs, args.shard_docs)
        for kind in kinds:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(store), old_file],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "QUARRY_PROGRESS": "0"},
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            mib = 1024 * 1024
            print(
                f"| {docs:,} | {-(-docs // args.shard_docs)} | {kind} | {r['seconds']:.1f} | {r['rss_before'] / mib:.0f} "
                f"| {r['peak'] / mib:.0f} | {(r['peak'] - r['rss_before']) / mib:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
