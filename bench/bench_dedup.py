"""Benchmark: fuzzy dedup (MinHash LSH, 5-word shingles, 14 bands x 8 rows) as the corpus grows, beside datatrove.

Input: the text of the real trafilatura evaluation pages from ../shared/data (extracted once with Quarry's
extractor; pages with >= 50 words), ``--base`` of them, then 1x, 4x, 16x that many documents: every copy
of a page has ~1% of its words replaced (a near duplicate with Jaccard ~0.9) and its own URL. The same
.jsonl.gz files go to both sides; each step runs in its own process pinned to one CPU.

* signatures: Quarry's shingles + rensa MinHash inside ``ingest_shard`` (its in-stage timers; filters off)
  vs datatrove's ``MinhashDedupSignature`` step (its own step timer, reader excluded): signatures per second.
* LSH + clustering: Quarry's ``run_dedup`` (band keys, connected components, dedup attributes written) vs
  datatrove's ``MinhashDedupBuckets`` (14 tasks) + ``MinhashDedupCluster``: CPU seconds and memory.
* memory: peak RSS of the process and the growth above the RSS the process had before the step started,
  per document; the growth exponent log(mem_k / mem_1) / log(k) (1.0 = linear).

    .venv/bin/python bench/bench_dedup.py                         # base 500: 500, 2,000, 8,000 docs
    .venv/bin/python bench/bench_dedup.py --quarry-scales 64      # + a Quarry-only 32,000-doc point
    .venv/bin/python bench/bench_dedup.py --quarry-only --base 100 --scales 1,4
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH,
    DATATROVE_PYTHON,
    MIB,
    QUARRY_PYTHON,
    BenchError,
    Measured,
    Region,
    current_rss_mib,
    default_shared,
    emit,
    machine_line,
    max_rss_mib,
    peer_available,
    peer_env,
    pick_cpu,
    run_measured,
    table,
)

SNAPSHOT = "QUARRY-BENCH-DEDUP"
DOCS_PER_FILE = 1000
EDIT_FRACTION = 0.01


# -- measured Quarry processes --------------------------------------------------------------------------


def quarry_signatures_child(input_dir: str, store: str) -> None:
    from tasks.ingest import FilterConfig, IngestConfig, run_ingest
    from tasks.storage import Store, list_files, read_json

    config = IngestConfig(
        input=input_dir, store=store, snapshot=SNAPSHOT, workers=0, filters=FilterConfig(enabled=())
    )
    with Region() as region:
        result = run_ingest(config, dedup=False)
    sig_seconds = 0.0
    for url in list_files(Store(store).stats("ingest", SNAPSHOT)):
        if url.endswith(".json") and not url.endswith("_summary.json"):
            stats = read_json(url)
            assert isinstance(stats, dict)
            sig_seconds += float(stats["seconds"].get("shingles", 0.0)) + float(
                stats["seconds"].get("minhash", 0)
            )
    emit(
        {
            **region.as_dict(),
            "documents": result.documents,
            "step_time_s": sig_seconds,
            "max_rss_mib": max_rss_mib(),
        }
    )


def quarry_dedup_child(store: str) -> None:
    from tasks.ingest import DedupConfig, run_dedup
    from tasks.storage import CompletionMarkers, Store, read_parquet

    # Warm-up outside the measurement: the first Parquet read imports pyarrow.dataset, pandas glue, fsspec's
    # local filesystem (~60 MiB of code and arenas that do not grow with the corpus).
    st = Store(store)
    first = sorted(CompletionMarkers(st.markers("ingest", SNAPSHOT)).done())[0]
    read_parquet(st.minhash_shard(SNAPSHOT, first)).column("id").to_numpy()
    rss_before = current_rss_mib()
    with Region() as region:
        result = run_dedup(store, SNAPSHOT, DedupConfig())
    emit(
        {
            **region.as_dict(),
            "rss_before_mib": rss_before,
            "max_rss_mib": max_rss_mib(),
            "documents": result.documents,
            "duplicates": result.exact_duplicates + result.fuzzy_duplicates,
            "exact": result.exact_duplicates,
            "fuzzy": result.fuzzy_duplicates,
        }
    )


# -- input ----------------------------------------------------------------------------------------------


def base_documents(shared: Path, count: int) -> list[tuple[str, str]]:
    """(url, text) of the first ``count`` eval pages (URL order) whose extracted text has >= 50 words."""
    from tasks.ingest.extract import ExtractConfig, ExtractionError, html_to_text
    from tasks.ingest.sample_snapshot import load_eval_pages

    out: list[tuple[str, str]] = []
    cfg = ExtractConfig()
    seen: set[str] = set()
    for page in load_eval_pages(shared):
        try:
            text = html_to_text(page.html, None, cfg)
        except ExtractionError:
            continue
        if len(text.split()) >= 50 and text not in seen:
            seen.add(text)
            out.append((page.url, text))
        if len(out) == count:
            break
    if len(out) < count:
        raise SystemExit(f"only {len(out)} usable pages in {shared}; use --base {len(out)} or less")
    return out


def near_duplicate(text: str, rng: random.Random, tag: str) -> str:
    """``text`` with ~1% of its words (at least one) replaced: keeps the line structure."""
    lines = text.split("\n")
    positions = [(i, j) for i, line in enumerate(lines) for j, _ in enumerate(line.split(" "))]
    words = [line.split(" ") for line in lines]
    for k, (i, j) in enumerate(rng.sample(positions, max(1, int(len(positions) * EDIT_FRACTION)))):
        words[i][j] = f"{tag}w{k}"
    return "\n".join(" ".join(w) for w in words)


def corpus_rows(base: list[tuple[str, str]], scale: int) -> Iterator[dict[str, str]]:
    """``scale`` copies of ``base``: copy 0 verbatim, the others ~1%-edited near duplicates with own URLs."""
    for copy in range(scale):
        for i, (url, text) in enumerate(base):
            if copy:
                text = near_duplicate(text, random.Random(copy * 1_000_003 + i), f"c{copy}")
                url = f"{url}{'&' if '?' in url else '?'}bench-copy={copy}"
            yield {"id": f"doc-{copy:03d}-{i:05d}", "url": url, "text": text}


def write_corpus(base: list[tuple[str, str]], scale: int, folder: Path) -> int:
    """Write the corpus as .jsonl.gz files of DOCS_PER_FILE documents, streaming; return the count."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = corpus_rows(base, scale)
    count = 0
    for part in itertools.count():
        chunk = list(itertools.islice(rows, DOCS_PER_FILE))
        if not chunk:
            break
        with gzip.open(folder / f"part-{part:05d}.jsonl.gz", "wt", compresslevel=1, encoding="utf-8") as fh:
            fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in chunk)
        count += len(chunk)
    return count


# -- the parent -----------------------------------------------------------------------------------------


def run_quarry(corpus: Path, work: Path, cpu: int | None) -> dict[str, Measured]:
    store = work / "quarry-store"
    shutil.rmtree(store, ignore_errors=True)
    me = [str(QUARRY_PYTHON), str(BENCH / "bench_dedup.py")]
    sig = run_measured(
        "quarry signatures",
        [*me, "--child", "quarry-signatures", "--input", str(corpus), "--store", str(store)],
        cpu=cpu,
    )
    dedup = run_measured("quarry dedup", [*me, "--child", "quarry-dedup", "--store", str(store)], cpu=cpu)
    shutil.rmtree(store, ignore_errors=True)
    return {"signatures": sig, "dedup": dedup}


def run_datatrove(corpus: Path, work: Path, cpu: int | None) -> dict[str, Measured]:
    out = work / "datatrove"
    shutil.rmtree(out, ignore_errors=True)
    script = [str(DATATROVE_PYTHON), str(BENCH / "peers" / "datatrove_dedup.py"), "--work", str(out)]
    env = peer_env()
    runs = {
        "signatures": run_measured(
            "datatrove signatures",
            [*script, "--step", "signatures", "--input", str(corpus)],
            cpu=cpu,
            env=env,
        ),
        "buckets": run_measured("datatrove buckets", [*script, "--step", "buckets"], cpu=cpu, env=env),
        "cluster": run_measured("datatrove cluster", [*script, "--step", "cluster"], cpu=cpu, env=env),
    }
    shutil.rmtree(out, ignore_errors=True)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", type=int, default=500, help="distinct real pages at 1x (default 500)")
    parser.add_argument("--scales", default="1,4,16", help="corpus sizes as multiples of --base")
    parser.add_argument("--quarry-scales", default="", help="extra scales measured for Quarry only, e.g. 64")
    parser.add_argument(
        "--quarry-only", action="store_true", help="measure Quarry only (no peer venv needed)"
    )
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: last; -1: no pinning)")
    parser.add_argument("--shared", type=Path, default=default_shared(), help="../shared/data")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--child", choices=("quarry-signatures", "quarry-dedup"), help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child == "quarry-signatures":
        quarry_signatures_child(args.input, args.store)
        return 0
    if args.child == "quarry-dedup":
        quarry_dedup_child(args.store)
        return 0

    scales = [int(s) for s in args.scales.split(",") if s]
    extra = [int(s) for s in args.quarry_scales.split(",") if s]
    if not args.quarry_only:
        ok, why = peer_available()
        if not ok:
            print(f"datatrove peer not available: {why}\n(use --quarry-only to measure Quarry alone)")
            return 2
    cpu = pick_cpu(args.cpu)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="quarry-bench-dedup-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        base = base_documents(args.shared, args.base)
        results: list[dict[str, Any]] = []
        for scale in sorted(set(scales) | set(extra)):
            corpus = workdir / f"corpus-{scale}x"
            n = write_corpus(base, scale, corpus)
            with_peer = not args.quarry_only and scale in scales
            # Alternate which side goes first from one size to the next.
            order = ["quarry", "datatrove"] if len(results) % 2 == 0 else ["datatrove", "quarry"]
            row: dict[str, Any] = {"scale": scale, "documents": n}
            for side in order:
                if side == "quarry":
                    row["quarry"] = run_quarry(corpus, workdir, cpu)
                elif with_peer:
                    row["datatrove"] = run_datatrove(corpus, workdir, cpu)
            shutil.rmtree(corpus, ignore_errors=True)
            results.append(row)
            q = row["quarry"]
            print(
                f"{scale:3d}x {n:7,d} docs: quarry sig {q['signatures'].result['step_time_s']:.2f} s, "
                f"dedup {q['dedup'].cpu_s:.2f} s"
                + (
                    f"; datatrove sig {row['datatrove']['signatures'].result['step_time_s']:.2f} s, "
                    f"buckets+cluster {row['datatrove']['buckets'].cpu_s + row['datatrove']['cluster'].cpu_s:.2f} s"
                    if "datatrove" in row
                    else ""
                ),
                flush=True,
            )
        print(report(results, args, cpu))
        return 0
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def memory_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    out: list[list[Any]] = []
    prev: dict[str, Any] | None = None
    prev_dt: dict[str, Any] | None = None
    for r in rows:
        exponent = marginal = d_marginal = "-"
        if prev is not None and r["n"] > prev["n"]:
            if r["q_grow"] > 0 and prev["q_grow"] > 0:
                exponent = f"{math.log(r['q_grow'] / prev['q_grow']) / math.log(r['n'] / prev['n']):.2f}"
            marginal = f"{(r['q_peak'] - prev['q_peak']) * MIB / (r['n'] - prev['n']):,.0f}"
        if r["d_peak"] is not None and prev_dt is not None and r["n"] > prev_dt["n"]:
            d_marginal = f"{(r['d_peak'] - prev_dt['d_peak']) * MIB / (r['n'] - prev_dt['n']):,.0f}"
        out.append(
            [
                f"{r['scale']}x",
                r["n"],
                r["q_before"],
                r["q_peak"],
                r["q_grow"],
                f"{r['q_grow'] * MIB / r['n']:,.0f}",
                exponent,
                marginal,
                r["d_peak"] if r["d_peak"] is not None else "-",
                d_marginal,
            ]
        )
        prev = r
        if r["d_peak"] is not None:
            prev_dt = r
    return out


def report(results: list[dict[str, Any]], args: argparse.Namespace, cpu: int | None) -> str:
    sig_rows: list[list[Any]] = []
    lsh_rows: list[list[Any]] = []
    mem_rows: list[dict[str, Any]] = []
    for row in results:
        n = row["documents"]
        q = row["quarry"]
        dt = row.get("datatrove")
        q_sig = q["signatures"].result["step_time_s"]
        d_sig = dt["signatures"].result["step_time_s"] if dt else float("nan")
        sig_rows.append(
            [
                f"{row['scale']}x",
                n,
                n / q_sig,
                n / d_sig if dt else "-",
                f"{d_sig / q_sig:.1f}x" if dt else "-",
                q["signatures"].result["max_rss_mib"],
                dt["signatures"].result["max_rss_mib"] if dt else "-",
            ]
        )
        qd = q["dedup"]
        q_grow = qd.result["max_rss_mib"] - qd.result["rss_before_mib"]
        d_cpu = (dt["buckets"].cpu_s + dt["cluster"].cpu_s) if dt else float("nan")
        d_peak = (
            max(dt["buckets"].result["max_rss_mib"], dt["cluster"].result["max_rss_mib"])
            if dt
            else float("nan")
        )
        d_grow = (
            max(s.result["max_rss_mib"] - s.result["rss_before_mib"] for s in (dt["buckets"], dt["cluster"]))
            if dt
            else float("nan")
        )
        lsh_rows.append(
            [
                f"{row['scale']}x",
                n,
                qd.cpu_s * 1000,
                d_cpu * 1000 if dt else "-",
                f"{d_cpu / qd.cpu_s:.1f}x" if dt else "-",
                qd.result["max_rss_mib"],
                d_peak if dt else "-",
                f"{qd.result['duplicates']:,} ({qd.result['exact']:,} exact)",
                f"{dt['cluster'].result['to_remove']:,}" if dt else "-",
            ]
        )
        d_peak_num = d_peak if dt else None
        mem_rows.append(
            {
                "scale": row["scale"],
                "n": n,
                "q_before": qd.result["rss_before_mib"],
                "q_peak": qd.result["max_rss_mib"],
                "q_grow": q_grow,
                "d_peak": d_peak_num,
                "d_grow": d_grow if dt else None,
            }
        )
    head = [
        machine_line(),
        f"input: {args.base} distinct real pages (trafilatura eval set, >= 50 words) x scale, every copy a ~1% "
        f"word-edited near duplicate; .jsonl.gz, {DOCS_PER_FILE} docs per file; one process per step, "
        f"pinned to CPU {cpu}; MinHash 5-gram shingles, 14 bands x 8 rows, both sides",
        "",
    ]
    tables = [
        table(
            "MinHash signatures (in-stage timers; one core)",
            [
                "scale",
                "documents",
                "Quarry signatures/s",
                "datatrove signatures/s",
                "Quarry speed-up",
                "Quarry peak RSS MiB (whole ingest)",
                "datatrove peak RSS MiB",
            ],
            sig_rows,
        ),
        table(
            "LSH buckets + clustering (Quarry run_dedup vs datatrove buckets + cluster; one core)",
            [
                "scale",
                "documents",
                "Quarry CPU ms",
                "datatrove CPU ms",
                "Quarry speed-up",
                "Quarry peak RSS MiB",
                "datatrove peak RSS MiB",
                "Quarry duplicates",
                "datatrove to_remove",
            ],
            lsh_rows,
        ),
        table(
            "Dedup memory as the corpus grows (growth = peak RSS - RSS just before the step; "
            "exponent = d log(growth) / d log(documents) from the previous size, 1.00 = linear; "
            "marginal = extra peak RSS per extra document from the previous size)",
            [
                "scale",
                "documents",
                "Quarry RSS before MiB",
                "Quarry peak RSS MiB",
                "Quarry growth MiB",
                "Quarry growth bytes/doc",
                "Quarry exponent",
                "Quarry marginal bytes/doc",
                "datatrove peak RSS MiB (buckets/cluster)",
                "datatrove marginal bytes/doc",
            ],
            memory_rows(mem_rows),
        ),
    ]
    return "\n".join(head) + "\n" + "\n\n".join(tables) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
