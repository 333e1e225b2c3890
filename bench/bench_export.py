"""Benchmark: ``quarry export`` throughput (tokens/s per core) and the export's loader beside a plain Parquet read.

Builds a store and a mixture from real text (WikiText-2 valid + test articles from ../shared/data, each article
one document, ``--repeat`` copies with distinct ids; domains and repetitions 1–2 from a hash of the id),
publishes it to a local directory with ``publish_mixture``, then times, each in its own child process pinned to
one CPU (``bench/common.py``; the tokenizer's thread pool is limited to that CPU):

1. ``export``: the whole export (verified download, tokenize, repetitions, shuffle, pack, Megatron .bin/.idx);
2. ``loader``: one epoch of :class:`tasks.export.loader.ExportDataset` (batches of 8 × seq_len, int64 tensors);
3. ``parquet``: a plain ``pyarrow.parquet`` read of the release's shards (``text`` + ``repetitions``), the
   least a trainer reading the release directly must do;
4. ``parquet+tokenize``: the same read plus tokenizing the text on the fly (repetitions applied), what a
   trainer without the export does every epoch.

Tokens are the SmolLM2 tokenizer's (``infra/vllm/setup.sh`` converts it; ``--tokenizer`` for another).

    .venv/bin/python bench/bench_export.py [--repeat 4] [--seq-len 2048] [--rounds 3] [--cpu N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from common import (
    QUARRY_PYTHON,
    Region,
    default_shared,
    emit,
    machine_line,
    med,
    pick_cpu,
    run_measured,
    spread,
    table,
)

TOKEN = re.compile(r"\w+|[^\w\s]")
DOMAINS = ("Education", "Technology", "Entertainment", "Others")
SNAPSHOT = "WIKITEXT-2"


def wiki_articles(shared: Path) -> list[str]:
    """WikiText-2 valid + test, one document per top-level article (`` = Title = `` headings)."""
    articles: list[str] = []
    for split in ("valid", "test"):
        text = (shared / "eval" / "wikitext-2" / f"wiki.{split}.txt").read_text(encoding="utf-8")
        for chunk in re.split(r"\n (?== [^=])", text):
            body = chunk.strip()
            if len(body) > 200:
                articles.append(body)
    return articles


def build_release(workdir: Path, shared: Path, repeat: int, shards: int) -> str:
    """documents/ + scores + a mixture (mix stage format) in a store, published to ``workdir/pub``."""
    import pyarrow as pa

    from tasks.ingest.shard import DOCUMENT_SCHEMA
    from tasks.publish import PublishConfig, publish_mixture
    from tasks.storage import Store, write_json_atomic, write_parquet_atomic

    store = Store(str(workdir / "store"))
    articles = wiki_articles(shared)
    docs = []
    for r in range(repeat):
        for i, text in enumerate(articles):
            url = f"https://wikitext.example/{r}/{i}"
            doc_id = hashlib.blake2b(f"{url}\n{text}".encode(), digest_size=16).hexdigest()
            docs.append((doc_id, url, text))
    per_shard = -(-len(docs) // shards)
    copies = tokens = 0
    for s in range(shards):
        part = docs[s * per_shard : (s + 1) * per_shard]
        shard = f"{SNAPSHOT}-{s:05d}"
        rows = [
            {
                "id": d,
                "url": u,
                "snapshot": SNAPSHOT,
                "warc_file": "wiki",
                "warc_offset": k,
                "source": "jsonl",
                "text": t,
                "language": "en",
                "language_score": 0.99,
                "n_chars": len(t),
                "n_tokens": len(TOKEN.findall(t)),
                "fetch_time": "",
            }
            for k, (d, u, t) in enumerate(part)
        ]
        write_parquet_atomic(
            store.document_shard(SNAPSHOT, shard), pa.Table.from_pylist(rows).cast(DOCUMENT_SCHEMA)
        )
        domain = [DOMAINS[int(r["id"][:2], 16) % len(DOMAINS)] for r in rows]
        write_parquet_atomic(
            store.attribute_shard("scores", SNAPSHOT, shard),
            pa.table(
                {"id": [r["id"] for r in rows], "domain": domain, "model_version": ["bench"] * len(rows)}
            ),
        )
        reps = [1 + int(r["id"][2:4], 16) % 2 for r in rows]
        copies += sum(reps)
        tokens += sum(r["n_tokens"] * k for r, k in zip(rows, reps, strict=True))
        mix_rows = pa.table(
            {
                "id": [r["id"] for r in rows],
                "snapshot": [SNAPSHOT] * len(rows),
                "shard": [shard] * len(rows),
                "domain": domain,
                "n_tokens": pa.array([r["n_tokens"] for r in rows], pa.int64()),
                "repetitions": pa.array(reps, pa.int32()),
            }
        )
        write_parquet_atomic(f"{store.mixtures('bench')}/documents/{SNAPSHOT}/{shard}.parquet", mix_rows)
    write_json_atomic(
        f"{store.mixtures('bench')}/summary.json",
        {
            "name": "bench",
            "format_version": 1,
            "seed": 0,
            "snapshots": [SNAPSHOT],
            "mixture": {"documents": len(docs), "copies": copies, "tokens": tokens},
        },
    )
    target = workdir / "pub"
    publish_mixture(PublishConfig(store=store.root, name="bench", target=str(target), report=False))
    return str(target / "bench")


# -- children -------------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    import numpy as np

    from tasks.export import ExportConfig, export_release, load_tokenizer
    from tasks.publish import open_mixture

    if args.child == "export":
        with Region() as region:
            result = export_release(
                ExportConfig(
                    release=args.release, tokenizer=args.tokenizer, seq_len=args.seq_len, out=args.out
                )
            )
        emit(
            {
                **region.as_dict(),
                "tokens": result.manifest.totals.tokens,
                "docs": result.manifest.totals.documents,
            }
        )
    elif args.child == "loader":
        from tasks.export.loader import ExportDataset

        ds = ExportDataset(args.out, batch_size=8)
        with Region() as region:
            n = sum(int(batch.numel()) for batch in ds)
        emit({**region.as_dict(), "tokens": n, "docs": 0})
    else:
        import pyarrow.parquet as pq

        mix = open_mixture(args.release)
        files = [os.path.join(args.release, mix.manifest.label, s.path) for s in mix.manifest.shards]
        tok, _ = load_tokenizer(args.tokenizer) if args.child == "parquet+tokenize" else (None, "")
        n_tokens = n_docs = 0
        with Region() as region:
            for path in files:
                table = pq.read_table(path, columns=["text", "repetitions"])
                texts = table["text"].to_pylist()
                reps = np.asarray(table["repetitions"].to_numpy(), dtype=np.int64)
                n_docs += int(reps.sum())
                if tok is not None:
                    lengths = np.asarray(
                        [len(e.ids) for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
                    )
                    n_tokens += int(((lengths + 1) * reps).sum())
                else:
                    n_tokens += 0  # the parent counts this pass in the export's tokens
        emit({**region.as_dict(), "tokens": n_tokens, "docs": n_docs})


def main() -> None:
    from tasks.export.manifest import default_tokenizer

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--tokenizer", default=default_tokenizer())
    parser.add_argument("--shared", type=Path, default=default_shared())
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--child", choices=("export", "loader", "parquet", "parquet+tokenize"))
    parser.add_argument("--release")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if not os.path.isfile(args.tokenizer):
        raise SystemExit(f"tokenizer {args.tokenizer} missing (make setup converts it; or --tokenizer)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="quarry-bench-export-"))
    try:
        release = build_release(workdir, args.shared, args.repeat, args.shards)
        cpu = pick_cpu(args.cpu)
        env = {"RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
        base = [
            str(QUARRY_PYTHON),
            __file__,
            "--release",
            release,
            "--tokenizer",
            args.tokenizer,
            "--seq-len",
            str(args.seq_len),
        ]
        runs: dict[str, list[dict[str, float]]] = {}
        export_tokens = 0
        for r in range(args.rounds):
            out = str(workdir / f"export-{r}")
            for kind in ("export", "loader", "parquet", "parquet+tokenize"):
                m = run_measured(kind, [*base, "--child", kind, "--out", out], cpu=cpu, env=env)
                runs.setdefault(kind, []).append(m.result | {"rss": m.peak_tree_rss_mib})
                if kind == "export":
                    export_tokens = int(m.result["tokens"])
            if r:
                shutil.rmtree(out)
        manifest = json.loads((workdir / "export-0" / "export.json").read_text())
        for x in runs["parquet"]:  # the same content, counted in the export's tokens
            x["tokens"] = export_tokens
        base_rate = med([x["tokens"] / max(x["cpu_s"], 1e-9) for x in runs["parquet+tokenize"]])
        rows = []
        for kind, results in runs.items():
            per_cpu = [x["tokens"] / max(x["cpu_s"], 1e-9) for x in results]
            per_wall = [x["tokens"] / max(x["wall_s"], 1e-9) for x in results]
            rows.append(
                [
                    kind,
                    spread(per_cpu),
                    spread(per_wall),
                    f"{med(per_cpu) / base_rate:.2f}x",
                    spread([x["wall_s"] for x in results]),
                    med([x["rss"] for x in results]),
                ]
            )
        print(machine_line())
        print(
            f"\nrelease: {manifest['totals']['documents']:,} document copies, {export_tokens:,} SmolLM2 tokens "
            f"(separators included), {manifest['totals']['shards']} shards; seq_len {args.seq_len}; "
            f"{args.rounds} rounds, one pinned CPU\n"
        )
        print(
            table(
                "Export and loader throughput (median, min–max)",
                [
                    "what",
                    "tokens per CPU-second",
                    "tokens per wall-second",
                    "vs parquet+tokenize",
                    "wall s",
                    "peak RSS MiB",
                ],
                rows,
            )
        )
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
