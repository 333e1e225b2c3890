"""Build a small store with a mixture in the documented format, from real crawl-derived text.

Documents come from ``../shared/data/crawl/cc-derived-jsonl`` (RedPajama/CCNet "head" documents of
CC-MAIN-2020-16 via dolma's fixtures, and C4 rows, which C4 built from CC-MAIN-2019-18). Scores are plain,
deterministic text statistics (not a model), so every number is reproducible; the mixture keeps documents by
their ``educational_value`` like a (very small) sampling function would.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.ingest.shard import DOCUMENT_SCHEMA
from tasks.storage import Store, write_json_atomic, write_parquet_atomic

TOKEN = re.compile(r"\w+|[^\w\s]")
SOURCES = {
    "CC-MAIN-2020-16": ["dolma/cc_en_head-0091.jsonl.gz", "dolma/cc_en_head-0174.jsonl.gz"],
    "CC-MAIN-2019-18": [
        "olmo/c4-sample.01.json.gz",
        "olmo/c4-sample.02.json.gz",
        "olmo/c4-sample.03.json.gz",
    ],
}
DOMAIN_WORDS = {
    "Finance": ("invest", "loan", "bank", "price", "market", "money", "tax", "business", "factoring"),
    "Medicine": ("health", "patient", "medical", "doctor", "disease", "treatment", "care", "hospital"),
    "Education": ("school", "student", "learn", "teacher", "course", "university", "education"),
    "Entertainment": ("music", "film", "game", "movie", "band", "concert", "festival", "actor"),
    "Technology": ("software", "data", "computer", "online", "internet", "app", "device", "web"),
}
CONNECTIVES = ("because", "therefore", "however", "thus", "since", "although", "hence", "so")


@dataclass(frozen=True)
class BuiltMixture:
    store: Store
    name: str
    rows: int  # mixture rows with repetitions > 0
    documents: int  # sum of repetitions
    tokens: int  # sum of n_tokens * repetitions
    snapshots: tuple[str, ...]


def _doc_id(url: str, text: str) -> str:
    return hashlib.blake2b(f"{url}\n{text}".encode(), digest_size=16).hexdigest()


def _domain(text: str) -> str:
    lower = text.lower()
    counts = {d: sum(lower.count(w) for w in words) for d, words in DOMAIN_WORDS.items()}
    best = max(counts, key=lambda d: (counts[d], d))
    return best if counts[best] >= 2 else "Others"


def _scores(text: str) -> dict[str, float]:
    words = re.findall(r"[A-Za-z]+", text)
    sentences = max(1, len(re.findall(r"[.!?]+", text)))
    avg_word = sum(map(len, words)) / max(1, len(words))
    words_per_sentence = len(words) / sentences
    alpha = sum(c.isalpha() or c.isspace() for c in text) / max(1, len(text))
    lower = text.lower()
    connectives = sum(lower.count(f" {c} ") for c in CONNECTIVES) / max(1, len(words)) * 100
    return {
        "educational_value": round(min(5.0, max(0.0, (avg_word - 3.6) * 2.5)), 4),
        "professionalism": round(min(5.0, max(0.0, 5 * alpha - 3.5 + avg_word / 10)), 4),
        "readability": round(206.835 - 1.015 * words_per_sentence - 84.6 * (avg_word / 3.0), 4),
        "reasoning": round(min(5.0, connectives), 4),
        "cleanliness": round(alpha, 4),
    }


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_documents(store: Store, shared_data: Path) -> dict[str, list[str]]:
    """documents/ + attributes/{scores,dedup}/ for both snapshots; returns the shard names per snapshot."""
    base = shared_data / "crawl" / "cc-derived-jsonl"
    shards: dict[str, list[str]] = {}
    for snapshot, files in SOURCES.items():
        for i, rel in enumerate(files):
            shard = f"{snapshot}-{i:05d}"
            rows = []
            for offset, record in enumerate(_read_jsonl(base / rel)):
                text = str(record["text"])
                url = str(record.get("url") or record.get("id"))
                rows.append(
                    {
                        "id": _doc_id(url, text),
                        "url": url,
                        "snapshot": snapshot,
                        "warc_file": rel,
                        "warc_offset": offset,
                        "source": "jsonl",
                        "text": text,
                        "language": "en",
                        "language_score": 0.99,
                        "n_chars": len(text),
                        "n_tokens": len(TOKEN.findall(text)),
                        "fetch_time": str(record.get("created") or record.get("date") or ""),
                    }
                )
            docs = pa.Table.from_pylist(rows).cast(DOCUMENT_SCHEMA)
            write_parquet_atomic(store.document_shard(snapshot, shard), docs)
            scores = [{"id": r["id"], **_scores(r["text"]), "domain": _domain(r["text"])} for r in rows]
            table = pa.Table.from_pylist(scores).append_column(
                "model_version", pa.array(["textstats-1"] * len(scores), pa.string())
            )
            write_parquet_atomic(store.attribute_shard("scores", snapshot, shard), table)
            dedup = pa.table({"id": docs["id"], "is_duplicate": pa.array([False] * len(rows))})
            write_parquet_atomic(store.attribute_shard("dedup", snapshot, shard), dedup)
            shards.setdefault(snapshot, []).append(shard)
    return shards


def build_mixture(
    root: Path,
    shared_data: Path,
    name: str = "web-en",
    variant: int = 0,
    with_domain: bool = True,
    sweep_id: str | None = None,
    proxy_comparison: dict[str, Any] | None = None,
) -> BuiltMixture:
    """A store under ``root`` with documents, scores, a model card and ``mixtures/<name>/`` in the mix stage's
    format (``tasks.mix``): ``documents/<snapshot>/<shard>.parquet`` rows and ``summary.json``.

    The rule is a plain threshold on ``educational_value`` (below: 0 copies, up to one point above: 1, more: 2);
    ``variant`` moves the threshold, so variants are different mixtures of the same corpus.
    """
    store = Store(str(root))
    if not (root / "documents").exists():
        write_documents(store, shared_data)
        write_json_atomic(
            f"{store.models('textstats-1')}/model_card.json",
            {"version": "textstats-1", "rater_model": "text-statistics (no LLM)", "models": {}},
        )
    corpus_tokens: dict[str, int] = {}
    corpus_docs: dict[str, int] = {}
    mix_tokens: dict[str, int] = {}
    mix_docs: dict[str, int] = {}
    copies: dict[str, int] = {}
    rows_kept = documents = tokens = 0
    threshold = 2.0 + 0.25 * variant
    mixture_dir = store.mixtures(name)
    for snapshot in sorted(SOURCES):
        for i in range(len(SOURCES[snapshot])):
            shard = f"{snapshot}-{i:05d}"
            docs = pq.read_table(store.document_shard(snapshot, shard)).to_pylist()
            scores = pq.read_table(store.attribute_shard("scores", snapshot, shard)).to_pylist()
            out: list[dict[str, Any]] = []
            for doc, score in zip(docs, scores, strict=True):
                edu, domain, n = float(score["educational_value"]), str(score["domain"]), int(doc["n_tokens"])
                corpus_tokens[domain] = corpus_tokens.get(domain, 0) + n
                corpus_docs[domain] = corpus_docs.get(domain, 0) + 1
                reps = 0 if edu < threshold else 1 if edu < threshold + 1.0 else 2
                if not reps:
                    continue
                row: dict[str, Any] = {"id": doc["id"], "snapshot": snapshot, "shard": shard}
                if with_domain:
                    row["domain"] = domain
                out.append({**row, "n_tokens": n, "repetitions": reps})
                rows_kept += 1
                documents += reps
                tokens += reps * n
                mix_tokens[domain] = mix_tokens.get(domain, 0) + reps * n
                mix_docs[domain] = mix_docs.get(domain, 0) + 1
                copies[domain] = copies.get(domain, 0) + reps
            schema = pa.schema(
                [
                    ("id", pa.string()),
                    ("snapshot", pa.string()),
                    ("shard", pa.string()),
                    *([("domain", pa.string())] if with_domain else []),
                    ("n_tokens", pa.int64()),
                    ("repetitions", pa.int32()),
                ]
            )
            table = pa.Table.from_pylist(out, schema=schema)  # possibly empty, like the mix stage's
            write_parquet_atomic(f"{mixture_dir}/documents/{snapshot}/{shard}.parquet", table)
    corpus_total = sum(corpus_tokens.values())
    summary: dict[str, Any] = {
        "name": name,
        "format_version": 1,
        "spec": {"kind": "threshold", "criterion": "educational_value", "threshold": threshold},
        "seed": 1234 + variant,
        "sweep_id": sweep_id,
        "snapshots": sorted(SOURCES),
        "mixture": {"documents": rows_kept, "copies": documents, "tokens": tokens},
        "domains": {
            d: {
                "corpus_tokens": corpus_tokens[d],
                "corpus_documents": corpus_docs[d],
                "corpus_proportion": corpus_tokens[d] / corpus_total,
                "mixture_tokens": mix_tokens.get(d, 0),
                "mixture_documents": mix_docs.get(d, 0),
                "copies": copies.get(d, 0),
                "proportion": mix_tokens.get(d, 0) / tokens if tokens else 0.0,
                "epochs": mix_tokens.get(d, 0) / corpus_tokens[d],
            }
            for d in sorted(corpus_tokens)
        },
    }
    if proxy_comparison is not None:
        summary["proxy_comparison"] = proxy_comparison
    write_json_atomic(f"{mixture_dir}/summary.json", summary)  # last, as the mix stage does
    return BuiltMixture(store, name, rows_kept, documents, tokens, tuple(sorted(SOURCES)))
