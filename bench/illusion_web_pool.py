"""The data-quality-illusion experiment (tasks/illusion) on a real web pool, for the figures quoted in
docs and notes. Not a test: one run, single-threaded, a few minutes on one core.

The pool: the English pages of ../shared/data/crawl/html-trafilatura-eval (blogs, news, shops, forums; text
extracted with resiliparse, as the ingest stage does) and the CCNet/C4/Dolma documents of
../shared/data/crawl/cc-derived-jsonl, written as a one-snapshot store. Quality scores are the
test fixture's text-feature scores (the sweep's sample needs some; the experiment does not use them). A sweep is
planned on it (its corpus sample is the pool and the held-out web documents), then ``run_illusion`` runs with
the default settings (4 keep ratios, 4 permuted shares, 3 seeds) on the tiny proxy.

    OMP_NUM_THREADS=1 .venv/bin/python bench/illusion_web_pool.py /tmp/illusion-web [token_budget]
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tarfile
import time
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "tasks" / "mix"))
from quarry_scored_corpus import TOKEN_RE, feature_scores  # noqa: E402

from tasks.illusion.experiment import IllusionSettings, run_illusion  # noqa: E402
from tasks.runner import ClusterConfig  # noqa: E402
from tasks.storage import Store, write_parquet_atomic  # noqa: E402
from tasks.sweep import ProxyModelConfig, SweepConfig, TrainConfig, plan_sweep  # noqa: E402
from tasks.sweep.targets import default_targets  # noqa: E402

SHARED = (REPO.parent / "shared" / "data").resolve()
ENGLISH = {"the", "and", "of", "to", "is", "in", "that", "for", "with", "you", "this", "are"}


def pages() -> list[tuple[str, str]]:
    from resiliparse.extract.html2text import extract_plain_text

    out = []
    with tarfile.open(SHARED / "crawl/html-trafilatura-eval/trafilatura-eval-pages.tar.xz") as tar:
        for m in tar:
            fh = tar.extractfile(m) if m.isfile() and m.name.endswith(".html") else None
            if fh is None:
                continue
            text = extract_plain_text(fh.read().decode("utf-8", errors="replace"), main_content=True)
            words = re.findall(r"[a-z]+", text.lower())
            if len(text) >= 500 and words and sum(w in ENGLISH for w in words) / len(words) > 0.08:
                out.append((m.name, text[:20_000]))
    import gzip

    for path in sorted((SHARED / "crawl/cc-derived-jsonl").glob("*/*.gz")):  # CCNet / C4 / Dolma web text
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                text = json.loads(line).get("text") or ""
                if len(text) >= 500:
                    out.append((f"{path.stem}/{i}", text[:20_000]))
    return out


def write_store(root: str, docs: list[tuple[str, str]], snapshot: str = "WEB-2026-01") -> None:
    store = Store(root)
    ids = [hashlib.blake2b(t.encode(), digest_size=16).hexdigest() for _, t in docs]
    texts = [t for _, t in docs]
    shard = f"{snapshot}-00000"
    write_parquet_atomic(
        store.document_shard(snapshot, shard),
        pa.table(
            {
                "id": ids,
                "url": [f"https://{n}" for n, _ in docs],
                "snapshot": [snapshot] * len(docs),
                "text": texts,
                "language": ["en"] * len(docs),
                "n_chars": pa.array([len(t) for t in texts], pa.int64()),
                "n_tokens": pa.array([len(TOKEN_RE.findall(t)) for t in texts], pa.int64()),
            }
        ),
    )
    feats = [feature_scores(t) for t in texts]
    scores = {c: pa.array([f[c] for f in feats], pa.float64()) for c in feats[0]}
    write_parquet_atomic(
        store.attribute_shard("scores", snapshot, shard),
        pa.table(
            {"id": ids, **scores, "domain": ["Web"] * len(docs), "model_version": ["features"] * len(docs)}
        ),
    )
    write_parquet_atomic(
        store.attribute_shard("dedup", snapshot, shard),
        pa.table({"id": ids, "is_duplicate": [False] * len(docs)}),
    )


def main() -> None:
    root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/illusion-web"
    budget = int(sys.argv[2]) if len(sys.argv) > 2 else 65_536
    t0 = time.time()
    docs = pages()
    print(f"{len(docs)} English pages ({sum(len(t) for _, t in docs):,} chars) in {time.time() - t0:.0f} s")
    write_store(root, docs)
    config = SweepConfig(
        store=root,
        sweep_id="illusion-web",
        targets=default_targets(str(SHARED / "eval")),
        mode="regmix",
        n_proxies=4,
        token_budget=budget,
        search_size=100,
        top_k=4,
        model=ProxyModelConfig.preset("tiny"),
        train=TrainConfig(lr=3e-3, batch_size=16, eval_tokens=16_384, threads=1),
        heldout_documents=40,
        sample_tokens=10**9,
        cluster=ClusterConfig(n_workers=0),
    )
    plan_sweep(config)
    report = run_illusion(root, "illusion-web", IllusionSettings(eval_dir=str(SHARED / "eval")))
    keep = ("reference", "classifier", "web_pool", "conclusions", "conclusion", "throughput", "token_budget")
    print(json.dumps({k: report[k] for k in keep}, indent=1))
    for group, arms in report["curves"].items():
        for a in arms:
            m = a["metrics"]
            print(
                f"{group:17s} {a['label']:28s} docs {a['documents']:4d} epochs {a['epochs'] or 0:5.2f} "
                + " ".join(
                    f"{k} {m[k]['mean']:.4f}±{m[k]['std']:.4f}"
                    for k in ("target", "hq_heldout", "web_heldout")
                )
                + (
                    f" intact {a['intact_share_kept']:.2f}/{a['intact_share_best']:.2f}"
                    if "intact_share_kept" in a
                    else ""
                )
            )


if __name__ == "__main__":
    main()
