"""Benchmark: fastText scoring throughput, three models at once, on real documents from ../shared/data.

Builds a documents store from real text (Turku CORE French/Swedish/Finnish web pages, WikiText-2 paragraphs,
CCNet/C4 web documents), distils three fastText models (educational_value, readability, domain; bucket=200000,
bigrams) from ratings derived from the pages' human register labels, then times:
  1. in-process, one core: normalisation + three predictions per document (documents/s per core);
  2. the score stage on a Dask LocalCluster with 1 and 2 single-threaded workers (documents/s, and per core).

    .venv/bin/python bench/bench_score.py [--repeat 4] [--shared ../shared/data] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import re
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
TOKEN_RE = re.compile(r"\w+|[^\w\s]")
EDU = {
    "IN": 4.0,
    "HI": 4.0,
    "IP": 2.5,
    "OP": 2.0,
    "ID": 1.0,
    "NA": 1.0,
    "D-Informational": 4.0,
    "How-to": 4.0,
    "Info-Persuasion": 2.5,
    "Opinion": 2.0,
    "Discussion": 1.0,
    "Narrative": 1.0,
}


def real_documents(shared: Path) -> list[tuple[str, str, str, str]]:
    """(url, text, language, register label or '') for every usable real document."""
    out: list[tuple[str, str, str, str]] = []
    for corpus, lang in (("FrCORE", "fr"), ("SvCORE", "sv"), ("FinCORE", "fi")):
        for split in ("dev", "test"):
            with lzma.open(shared / "labels" / "turku-register" / corpus / f"{split}.tsv.xz", "rt") as fh:
                for i, line in enumerate(fh):
                    labels, _, text = line.rstrip("\n").partition("\t")
                    if len(text) > 200:
                        out.append((f"https://{corpus}.example/{split}/{i}", text, lang, labels.split()[0]))
    wiki = (shared / "eval" / "wikitext-2" / "wiki.valid.txt").read_text(encoding="utf-8")
    for i, para in enumerate(p.strip() for p in wiki.split("\n")):
        if len(para) > 300 and not para.startswith("="):
            out.append((f"https://wiki.example/{i}", para, "en", ""))
    return out


def build_store(root: Path, docs: list[tuple[str, str, str, str]], repeat: int, shards: int) -> int:
    from tasks.rate.criteria import CRITERIA, text_hash
    from tasks.storage import Store, join, write_json_atomic, write_parquet_atomic

    store = Store(str(root))
    rows = []
    for r in range(repeat):
        for j, (url, text, lang, _) in enumerate(docs):
            u = f"{url}?r={r}"
            rows.append(
                {
                    "id": hashlib.blake2b(f"{u}\n{text}".encode(), digest_size=16).hexdigest(),
                    "url": u,
                    "snapshot": "BENCH",
                    "warc_file": "bench.warc.gz",
                    "warc_offset": j,
                    "source": "jsonl",
                    "text": text,
                    "language": lang,
                    "language_score": 0.9,
                    "n_chars": len(text),
                    "n_tokens": len(TOKEN_RE.findall(text)),
                    "fetch_time": "2024-01-01T00:00:00Z",
                }
            )
    for s in range(shards):
        write_parquet_atomic(
            store.document_shard("BENCH", f"shard-{s:05d}"), pa.Table.from_pylist(rows[s::shards])
        )
    labelled = [d for d in docs if d[3]]
    rating_rows = []
    for i, (url, text, lang, label) in enumerate(labelled):
        jitter = int(hashlib.blake2b(url.encode(), digest_size=2).hexdigest(), 16) / 65535
        rating_rows.append(
            {
                "id": url,
                "language": lang,
                "split": "heldout" if i % 5 == 0 else "train",
                "text": text[:4000],
                "doc_hash": text_hash(text[:4000]),
                "educational_value": EDU.get(label, 1.0) + jitter - 0.5,
                "educational_value__status": "ok",
                "readability": min(1.0, len(text) / 5000),
                "readability__status": "ok",
                "domain": label,
                "domain__status": "ok",
            }
        )
    base = join(store.ratings(), "bench")
    write_parquet_atomic(join(base, "ratings.parquet"), pa.Table.from_pylist(rating_rows))
    crit = {
        c: {"key": CRITERIA[c].key, "kind": CRITERIA[c].kind, "version": "bench"}
        for c in ("educational_value", "readability", "domain")
    }
    write_json_atomic(join(base, "meta.json"), {"criteria": crit, "complete": True, "model": "human-labels"})
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--repeat", type=int, default=3, help="copies of the real documents (more volume)")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()

    from tasks.distill import DistillConfig, load_models, run_distill
    from tasks.distill.text import fasttext_line
    from tasks.score import ScoreConfig, run_score
    from tasks.storage import Store, remove

    work = Path(args.workdir or tempfile.mkdtemp(prefix="quarry-bench-score-"))
    docs = real_documents(Path(args.shared))
    n = build_store(work, docs, args.repeat, args.shards)
    chars = sum(len(d[1]) for d in docs) * args.repeat
    print(f"corpus: {n} real documents ({chars / n:.0f} chars on average), {args.shards} shards")
    version = run_distill(DistillConfig(store=str(work), ratings="bench", dim=32, threads=2)).version
    models = load_models(Store(str(work)), version)
    print(f"models: {sorted(models)} (version {version})")

    texts = [d[1] for d in docs]
    t0 = time.perf_counter()
    lines = [fasttext_line(t) for t in texts]
    t1 = time.perf_counter()
    for m in models.values():
        m.predict(lines)
    t2 = time.perf_counter()
    print(
        f"in-process, 1 core: {len(texts) / (t2 - t0):,.0f} docs/s with 3 models "
        f"(normalise {len(texts) / (t1 - t0):,.0f} docs/s, predict x3 {len(texts) / (t2 - t1):,.0f} docs/s)"
    )
    # The naive loop: one model at a time, one document per call, text normalised again for every model.
    sample = texts[: min(len(texts), 1500)]
    t3 = time.perf_counter()
    for m in models.values():
        for text in sample:
            m.predict([fasttext_line(text)])
    naive = len(sample) / (time.perf_counter() - t3)
    batched = len(texts) / (t2 - t0)
    nemo_floor = 500.0  # NeMo Curator's published per-core floor for language ID + quality
    print("\n| scorer (3 models, 1 core) | docs/s per core | vs NeMo floor (500) | vs naive loop |")
    print("|---|---|---|---|")
    print(
        f"| Quarry, batched, text normalised once | {batched:,.0f} | {batched / nemo_floor:.1f}x | {batched / naive:.1f}x |"
    )
    print(
        f"| naive: one model at a time, per-document calls | {naive:,.0f} | {naive / nemo_floor:.1f}x | 1.0x |"
    )
    print()
    for workers in (1, 2):
        remove(str(work / "_markers"), recursive=True)
        t = time.perf_counter()
        result = run_score(
            ScoreConfig(store=str(work), model_version=version, n_workers=workers, batch_size=1000)
        )
        wall = time.perf_counter() - t
        print(
            f"score stage, Dask LocalCluster {workers} worker(s): {result.documents / wall:,.0f} docs/s wall "
            f"(incl. cluster start), {result.documents / wall / workers:,.0f} docs/s per core; "
            f"per-shard compute {sum(r['documents'] for r in result.per_shard) / sum(r['seconds'] for r in result.per_shard):,.0f} docs/s"
        )
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
