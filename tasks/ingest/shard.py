"""Ingest one crawl file into one shard: read → extract → language ID → filters → signatures → write.

Outputs of a shard (all written atomically, the completion marker last):
documents/, attributes/heuristics/, removed/ (dropped documents with their reason), quarantine/ (unreadable
records with file, offset, reason), minhash/ (signatures for the snapshot-wide dedup) and stats/ingest/.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.ingest import minhash
from tasks.ingest.boilerplate import RULES_VERSION
from tasks.ingest.boilerplate.site import strip_site_repeats
from tasks.ingest.config import IngestConfig
from tasks.ingest.discover import InputFile
from tasks.ingest.extract import ExtractionError, check_textual, html_to_text, plain_to_text
from tasks.ingest.filters import TextView, heuristic_attributes
from tasks.ingest.langid import identify
from tasks.ingest.records import Bad, Record, Skipped
from tasks.ingest.unreadable import read_input
from tasks.storage import CompletionMarkers, Store, read_json, write_json_atomic, write_parquet_atomic

log = logging.getLogger(__name__)

STAGE = "ingest"
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)

DOCUMENT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("snapshot", pa.string()),
        ("warc_file", pa.string()),
        ("warc_offset", pa.int64()),
        ("source", pa.string()),
        ("text", pa.string()),
        ("language", pa.string()),
        ("language_score", pa.float32()),
        ("n_chars", pa.int64()),
        ("n_tokens", pa.int64()),
        ("fetch_time", pa.string()),
    ]
)
REMOVED_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("warc_file", pa.string()),
        ("warc_offset", pa.int64()),
        ("reason", pa.string()),
        ("language", pa.string()),
        ("language_score", pa.float32()),
        ("n_chars", pa.int64()),
        ("text", pa.string()),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("offset", pa.int64()),
        ("url", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("payload_head", pa.binary()),
    ]
)


def document_id(url: str, text: str) -> str:
    return hashlib.blake2b(f"{url}\n{text}".encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def count_tokens(text: str) -> int:
    """The platform-wide token estimate: words and punctuation marks."""
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class ShardSpec:
    """One unit of work: a crawl file, the shard it becomes, and the stage configuration."""

    file: InputFile
    snapshot: str
    config: IngestConfig


def ingest_shard(spec: ShardSpec) -> dict[str, Any]:
    """Process one file into one shard unless its completion marker exists; return the shard's stats."""
    store = Store(spec.config.store)
    shard = spec.file.shard
    markers = CompletionMarkers(store.markers(STAGE, spec.snapshot))
    stats_url = store.stats_shard(STAGE, spec.snapshot, shard)
    version = shard_version(spec)
    if markers.is_done(shard) and markers.info(shard).get("version") == version:
        previous = read_json(stats_url)
        assert isinstance(previous, dict)
        return {**previous, "skipped_done": True}

    started = time.perf_counter()
    cfg = spec.config
    extract_cfg = cfg.extract.build()
    pipeline = cfg.filters.pipeline()
    # a recipe filter that rewrites text (C4 line removal): the new version goes to attributes/c4_text/
    text_versions: list[str | None] | None = [] if any(f.rewrites_text for f in pipeline.filters) else None
    language_filter = cfg.filters.language_filter()
    counts: Counter[str] = Counter()
    timings: defaultdict[str, float] = defaultdict(float)

    docs: dict[str, list[Any]] = {name: [] for name in DOCUMENT_SCHEMA.names}
    removed: dict[str, list[Any]] = {name: [] for name in REMOVED_SCHEMA.names}
    quarantine: dict[str, list[Any]] = {name: [] for name in QUARANTINE_SCHEMA.names}
    heuristics: list[dict[str, Any]] = []
    shingle_sets: list[list[str]] = []
    exact: list[int] = []
    seen_ids: set[str] = set()

    def quarantine_row(offset: int, url: str, reason: str, detail: str, head: bytes) -> None:
        counts["quarantined"] += 1
        counts[f"quarantined:{reason}"] += 1
        for key, value in zip(
            QUARANTINE_SCHEMA.names,
            (spec.file.url, offset, url, reason, detail[:2000], head[:4096]),
            strict=True,
        ):
            quarantine[key].append(value)

    def removed_row(doc_id: str, rec: Record, reason: str, language: str, score: float, text: str) -> None:
        counts["removed"] += 1
        for key, value in zip(
            REMOVED_SCHEMA.names,
            (doc_id, rec.url, spec.file.url, rec.offset, reason, language, score, len(text), text),
            strict=True,
        ):
            removed[key].append(value)

    extracted: list[tuple[Record, str]] = []
    t_read = time.perf_counter()
    for item in read_input(spec.file.url, spec.file.kind, extract_cfg.max_page_bytes):  # unreadable: raises
        if isinstance(item, Skipped):
            counts[f"skipped:{item.record_type}"] += 1
            continue
        if isinstance(item, Bad):
            quarantine_row(item.offset, item.url, item.reason, item.detail, item.payload_head)
            if item.skipped_bytes:
                counts["skipped_bytes"] += item.skipped_bytes
            continue
        counts["records"] += 1
        rec = item
        t0 = time.perf_counter()
        try:
            if rec.source == "warc":
                check_textual(rec.payload, rec.content_type, rec.charset)
                text = html_to_text(rec.payload, rec.charset, extract_cfg)
            else:
                text = plain_to_text(rec.payload, rec.charset, extract_cfg)
        except ExtractionError as exc:
            quarantine_row(rec.offset, rec.url, exc.reason, exc.detail, rec.payload[:4096])
            continue
        except Exception as exc:  # a parser bug on one page must not lose the shard
            quarantine_row(
                rec.offset, rec.url, "extraction_failed", f"{type(exc).__name__}: {exc}", rec.payload[:4096]
            )
            continue
        timings["extract"] += time.perf_counter() - t0
        # the payload is not needed past extraction: keep the shard's texts, not its HTML
        extracted.append((replace(rec, payload=b""), text))

    t_site = time.perf_counter()
    texts = [text for _, text in extracted]
    if extract_cfg.boilerplate == "quarry" and extract_cfg.site_repeat.min_pages > 0:
        # lines on >= min_pages pages of one host in this shard are that site's template (boilerplate/site.py)
        texts, repeated = strip_site_repeats(
            [(rec.url, text) for rec, text in extracted], extract_cfg.site_repeat
        )
        if repeated:
            counts["site_repeat_lines"] += repeated
    timings["site_repeat"] = time.perf_counter() - t_site
    for (rec, _), text in zip(extracted, texts, strict=True):
        t1 = time.perf_counter()
        doc_id = document_id(rec.url, text)
        if not text:
            removed_row(doc_id, rec, "extract:empty_text", "und", 0.0, text)
            continue
        language, score = identify(text)
        t2 = time.perf_counter()
        timings["langid"] += t2 - t1
        reason = language_filter.check_language(language, score)
        view = TextView(text, language)
        if reason is None:
            reason = pipeline(view)
        timings["filters"] += time.perf_counter() - t2
        if reason is None and doc_id in seen_ids:
            reason = "repeated_record"
        if reason is not None:
            counts[f"removed:{reason}"] += 1
            removed_row(doc_id, rec, reason, language, score, text)
            continue
        seen_ids.add(doc_id)
        for key, value in zip(
            DOCUMENT_SCHEMA.names,
            (
                doc_id,
                rec.url,
                spec.snapshot,
                spec.file.url,
                rec.offset,
                rec.source,
                text,
                language,
                score,
                len(text),
                count_tokens(text),
                rec.fetch_time,
            ),
            strict=True,
        ):
            docs[key].append(value)
        heuristics.append(heuristic_attributes(view))
        if text_versions is not None:
            text_versions.append(pipeline.last_rewrite)
        t3 = time.perf_counter()
        shingle_sets.append(minhash.shingles(text, cfg.dedup.shingle_words, view.spaced))
        exact.append(minhash.exact_hash(text))
        timings["shingles"] += time.perf_counter() - t3
    timings["read_total"] = time.perf_counter() - t_read
    if not counts:  # nothing at all came out of the file: say so instead of an empty "done" shard
        quarantine_row(0, "", "empty_file", "the file holds no records (zero bytes or an empty archive)", b"")

    t4 = time.perf_counter()
    sigs = minhash.signatures(shingle_sets, cfg.dedup.num_perm, cfg.dedup.seed)
    timings["minhash"] = time.perf_counter() - t4

    doc_table = pa.table(docs, schema=DOCUMENT_SCHEMA)
    order = np.argsort(np.asarray(docs["warc_offset"], dtype=np.int64), kind="stable")
    doc_table = doc_table.take(order)
    heur_table = pa.Table.from_pylist(heuristics) if heuristics else pa.table({})
    heur_table = _with_id(heur_table.take(order) if heuristics else heur_table, doc_table)
    flat = pa.array(sigs[order].reshape(-1) if len(order) else np.zeros(0, np.uint32), type=pa.uint32())
    sig_table = pa.table(
        {
            "id": doc_table.column("id"),
            "exact_hash": pa.array(
                np.asarray(exact, dtype=np.uint64)[order] if exact else [], type=pa.uint64()
            ),
            "signature": pa.FixedSizeListArray.from_arrays(flat, cfg.dedup.num_perm),
        }
    )

    t5 = time.perf_counter()
    write_parquet_atomic(store.document_shard(spec.snapshot, shard), doc_table)
    write_parquet_atomic(store.attribute_shard("heuristics", spec.snapshot, shard), heur_table)
    if text_versions is not None:
        versions = pa.table({"text": pa.array(text_versions, type=pa.string())})
        write_parquet_atomic(
            store.attribute_shard("c4_text", spec.snapshot, shard), _with_id(versions.take(order), doc_table)
        )
    write_parquet_atomic(store.removed_shard(spec.snapshot, shard), pa.table(removed, schema=REMOVED_SCHEMA))
    write_parquet_atomic(
        store.quarantine_shard(spec.snapshot, shard), pa.table(quarantine, schema=QUARANTINE_SCHEMA)
    )
    write_parquet_atomic(store.minhash_shard(spec.snapshot, shard), sig_table)
    timings["write"] = time.perf_counter() - t5

    stats: dict[str, Any] = {
        "shard": shard,
        "file": spec.file.url,
        "snapshot": spec.snapshot,
        "documents": doc_table.num_rows,
        "tokens": int(sum(docs["n_tokens"])),
        "counts": dict(sorted(counts.items())),
        "recipe": cfg.filters.describe(),
        "filters": pipeline.stats.as_dict(),
        "seconds": {k: round(v, 4) for k, v in sorted(timings.items())},
        "wall_seconds": round(time.perf_counter() - started, 4),
    }
    write_json_atomic(stats_url, stats)
    markers.mark_done(
        shard,
        {
            "documents": doc_table.num_rows,
            "file": spec.file.url,
            "source": spec.file.signature,
            "version": version,
        },
    )
    return stats


def shard_version(spec: ShardSpec) -> str:
    """What a finished shard was made from: the input file as it was (size/mtime or ETag) and the stage
    configuration. A shard whose marker records another version is redone, and so is everything downstream
    of it (:meth:`Store.documents_version`)."""
    # which files are selected (``select``) does not change how one file is processed
    settings = spec.config.model_dump(
        mode="json", exclude={"input", "store", "workers", "scheduler", "select"}
    )
    # the extraction rules are code, not settings: their version makes shards made by older rules be redone
    payload = json.dumps([spec.file.signature, settings, RULES_VERSION], sort_keys=True, default=str)
    return hashlib.blake2b(payload.encode(), digest_size=12).hexdigest()


def _with_id(table: pa.Table, docs: pa.Table) -> pa.Table:
    columns = {"id": docs.column("id")}
    for name in table.column_names:
        columns[name] = table.column(name)
    return pa.table(columns)
