"""TEST FIXTURE: a small scored corpus in the store layout of docs/CONTRACT.md, built from real text.

The documents are real text from ``../shared/data/eval`` (one source per "domain"). Their quality scores are
NOT rater outputs: they are deterministic functions of simple text features (share of clean characters, word
length, sentence length, digit density, type/token ratio), labelled ``model_version = "test-fixture-features"``.
A share of each domain's documents is corrupted (characters replaced by symbol noise) so that quality matters:
the corrupted ones score low on cleanliness and are worse training data for a language model.

Used by tests/tasks/mix, tests/tasks/sweep and tests/dags/test_proxy_sweep.py.
"""

from __future__ import annotations

import hashlib
import html
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from tasks.storage import Store, write_parquet_atomic

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
CLEAN_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n\t.,;:'\"!?()-")
NOISE = "#@$%^&*~|<>{}[]\\/=+_`"
FIXTURE_MODEL = "test-fixture-features"


def _chunks(text: str, size: int) -> list[str]:
    """Split at blank lines into pieces of about ``size`` characters."""
    out, cur = [], []
    n = 0
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        cur.append(para)
        n += len(para)
        if n >= size:
            out.append("\n\n".join(cur))
            cur, n = [], 0
    if cur:
        out.append("\n\n".join(cur))
    return out


def _strip_tags(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    text = html.unescape(re.sub(r"(?s)<[^>]+>", " ", markup))
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in text.splitlines()]
    return "\n".join(ln for ln in lines if ln)


def source_texts(shared_data: Path, budget: dict[str, int]) -> dict[str, list[str]]:
    """Real documents per domain, about ``budget[domain]`` characters each domain."""
    ev = shared_data / "eval"
    out: dict[str, list[str]] = {}
    if "Religion" in budget:
        kjv = (ev / "kjv-bible" / "kjv.txt").read_text(encoding="utf-8", errors="replace")[
            : budget["Religion"]
        ]
        out["Religion"] = [c for c in _chunks(re.sub(r"\n(?=\S)", "\n\n", kjv), 1500) if len(c) > 200]
    if "Literature" in budget:
        sh = (ev / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[: budget["Literature"]]
        out["Literature"] = [c for c in _chunks(sh, 1500) if len(c) > 200]
    if "Miscellaneous" in budget:
        wiki = (ev / "wikitext-2" / "wiki.valid.txt").read_text(encoding="utf-8")[: budget["Miscellaneous"]]
        arts = re.split(r"\n \= [^=].*? \= \n", wiki)
        docs = []
        for a in arts:
            docs += [c for c in _chunks(a, 1800) if len(c) > 200]
        out["Miscellaneous"] = docs
    if "Technology" in budget:
        docs, n = [], 0
        with tarfile.open(ev / "debian-docs" / "postgresql-doc-15-html.tar.xz", "r:xz") as tar:
            for m in tar:
                if not m.isfile() or not m.name.endswith(".html"):
                    continue
                fh = tar.extractfile(m)
                if fh is None:
                    continue
                text = _strip_tags(fh.read().decode("utf-8", errors="replace"))
                for c in _chunks(text.replace("\n", "\n\n"), 1500):
                    if len(c) > 200:
                        docs.append(c)
                        n += len(c)
                if n >= budget["Technology"]:
                    break
        out["Technology"] = docs
    if "Education" in budget:
        docs, n = [], 0
        with tarfile.open(ev / "openstax-intro-python" / "openstax-intro-python-cnxml.tar.gz", "r:gz") as tar:
            for m in sorted(tar.getmembers(), key=lambda m: m.name):
                if not m.isfile() or not m.name.endswith(".cnxml"):
                    continue
                fh = tar.extractfile(m)
                if fh is None:
                    continue
                text = _strip_tags(fh.read().decode("utf-8", errors="replace"))
                for c in _chunks(text.replace("\n", "\n\n"), 1500):
                    if len(c) > 200:
                        docs.append(c)
                        n += len(c)
                if n >= budget["Education"] // 2:
                    break
        gsm = (ev / "gsm8k" / "test.jsonl").read_text(encoding="utf-8").splitlines()
        import json

        items = [json.loads(line) for line in gsm]
        k = 0
        while n < budget["Education"] and k < len(items):
            block = "\n\n".join(f"{it['question']}\n{it['answer']}" for it in items[k : k + 4])
            docs.append(block)
            n += len(block)
            k += 4
        out["Education"] = docs
    return out


def corrupt(text: str, rate: float, seed: int) -> str:
    rng = np.random.default_rng(seed)
    chars = np.array(list(text))
    hit = rng.random(len(chars)) < rate
    chars[hit] = rng.choice(list(NOISE), size=int(hit.sum()))
    return "".join(chars.tolist())


def feature_scores(text: str) -> dict[str, float]:
    """Deterministic 'quality scores' from text features (a test fixture, not a rater)."""
    n = max(1, len(text))
    clean = sum(ch in CLEAN_CHARS for ch in text) / n
    words = re.findall(r"[A-Za-z]+", text)
    mean_word = float(np.mean([len(w) for w in words])) if words else 0.0
    sentences = [s for s in re.split(r"[.!?]+", text) if s.strip()]
    words_per_sentence = len(words) / max(1, len(sentences))
    digits = sum(ch.isdigit() for ch in text) / n
    ttr = len({w.lower() for w in words}) / max(1, len(words))
    return {
        "cleanliness": float(np.clip(5 * clean**6, 0, 5)),
        "educational_value": float(np.clip((mean_word - 3.0) * 1.6 * clean**4, 0, 5)),
        "readability": float(np.clip(5 - abs(words_per_sentence - 18) / 6, 0, 5) * clean**2),
        "reasoning": float(np.clip(digits * 120 + (mean_word - 3.5), 0, 5) * clean**2),
        "professionalism": float(np.clip(ttr * 7 * clean**3, 0, 5)),
    }


@dataclass
class CorpusInfo:
    root: str
    snapshot: str
    shards: list[str]
    documents: int
    domains: dict[str, int] = field(default_factory=dict)  # domain → documents (excluding duplicates)
    corrupted: int = 0
    duplicates: int = 0


DEFAULT_BUDGET = {
    "Religion": 300_000,
    "Literature": 220_000,
    "Miscellaneous": 160_000,
    "Technology": 110_000,
    "Education": 110_000,
}


def build_scored_corpus(
    root: str | Path,
    shared_data: Path,
    *,
    snapshot: str = "CC-TEST-2026-01",
    n_shards: int = 3,
    budget: dict[str, int] | None = None,
    noise_share: float = 0.3,
    noise_rate: float = 0.35,
    n_duplicates: int = 6,
    with_clusters: bool = False,
) -> CorpusInfo:
    """Write documents/, attributes/scores/, attributes/dedup/ (and attributes/clusters/) for one snapshot."""
    store = Store(str(root))
    texts = source_texts(shared_data, budget or DEFAULT_BUDGET)
    rows: list[dict[str, object]] = []
    corrupted = 0
    for domain in sorted(texts):
        for i, text in enumerate(texts[domain]):
            h = int(hashlib.blake2b(f"{domain}/{i}".encode(), digest_size=4).hexdigest(), 16)
            bad = (h % 1000) / 1000 < noise_share
            if bad:
                text = corrupt(text, noise_rate, h)
                corrupted += 1
            rows.append(
                {"domain": domain, "text": text, "url": f"https://fixture.quarry.test/{domain.lower()}/{i}"}
            )
    # a few exact duplicates (same text, another URL) that dedup marks
    for j in range(n_duplicates):
        src = rows[(j * 37) % len(rows)]
        rows.append({**src, "url": str(src["url"]) + f"?copy={j}", "duplicate_of_url": src["url"]})
    ids = {}
    for r in rows:
        r["id"] = hashlib.blake2b(f"{r['url']}\n{r['text']}".encode(), digest_size=16).hexdigest()
        ids[r["url"]] = r["id"]
    shards = [f"{snapshot}-{k:05d}" for k in range(n_shards)]
    info = CorpusInfo(str(root), snapshot, shards, len(rows), corrupted=corrupted, duplicates=n_duplicates)
    for k, shard in enumerate(shards):
        part = rows[k::n_shards]
        text_col = [str(r["text"]) for r in part]
        n_tok = [len(TOKEN_RE.findall(t)) for t in text_col]
        docs = pa.table(
            {
                "id": [str(r["id"]) for r in part],
                "url": [str(r["url"]) for r in part],
                "snapshot": [snapshot] * len(part),
                "warc_file": [f"fixture-{shard}.warc.gz"] * len(part),
                "warc_offset": pa.array([1000 * i for i in range(len(part))], pa.int64()),
                "source": ["jsonl"] * len(part),
                "text": text_col,
                "language": ["en"] * len(part),
                "language_score": pa.array([0.99] * len(part), pa.float32()),
                "n_chars": pa.array([len(t) for t in text_col], pa.int64()),
                "n_tokens": pa.array(n_tok, pa.int64()),
                "fetch_time": ["2026-01-01T00:00:00Z"] * len(part),
            }
        )
        feats = [feature_scores(t) for t in text_col]
        scores = {
            "id": [str(r["id"]) for r in part],
            **{c: pa.array([f[c] for f in feats], pa.float64()) for c in feats[0]},
            "domain": [str(r["domain"]) for r in part],
            "domain_score": pa.array([0.9] * len(part), pa.float32()),
            "model_version": [FIXTURE_MODEL] * len(part),
        }
        dup_of = [ids.get(str(r.get("duplicate_of_url"))) if "duplicate_of_url" in r else None for r in part]
        dedup = {
            "id": [str(r["id"]) for r in part],
            "is_duplicate": [d is not None for d in dup_of],
            "exact_duplicate": [d is not None for d in dup_of],
            "fuzzy_duplicate": [False] * len(part),
            "duplicate_of": pa.array(dup_of, pa.string()),
        }
        write_parquet_atomic(store.document_shard(snapshot, shard), docs)
        write_parquet_atomic(store.attribute_shard("scores", snapshot, shard), pa.table(scores))
        write_parquet_atomic(store.attribute_shard("dedup", snapshot, shard), pa.table(dedup))
        if with_clusters:
            cl = [
                int(hashlib.blake2b(str(r["domain"]).encode(), digest_size=2).hexdigest(), 16) % 7
                for r in part
            ]
            write_parquet_atomic(
                store.attribute_shard("clusters", snapshot, shard),
                pa.table(
                    {
                        "id": [str(r["id"]) for r in part],
                        "cluster": pa.array(cl, pa.int32()),
                        "cluster_version": ["fixture"] * len(part),
                    }
                ),
            )
        for r in part:
            if "duplicate_of_url" not in r:
                info.domains[str(r["domain"])] = info.domains.get(str(r["domain"]), 0) + 1
    return info
