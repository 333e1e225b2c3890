"""Stratified, reproducible samples: per language and per domain, duplicates left out."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
from fixtures_vllm import mixed_corpus, write_documents
from traced_peak import traced_peak

from tasks.rate.sample import list_document_shards, stratified_sample
from tasks.storage import Store, read_parquet, write_parquet_atomic

SNAP = "CC-TEST-2024-01"


def test_sample_is_balanced_reproducible_and_skips_duplicates(tmp_path: Path, shared_data: Path) -> None:
    docs = mixed_corpus(shared_data, en_web=30, per_register=3, wiki=10)  # 40 en, 3 each of fr/sv/fi
    write_documents(tmp_path, docs, snapshot=SNAP, n_shards=2)
    store = Store(str(tmp_path))
    sample = stratified_sample(store, 20, seed=1)
    langs = Counter(sample.column("language").to_pylist())
    assert langs == {"en": 11, "fr": 3, "sv": 3, "fi": 3}  # small strata fully used, the rest goes to en
    assert sample.column("id").to_pylist() == stratified_sample(store, 20, seed=1).column("id").to_pylist()
    assert sample.column("id").to_pylist() != stratified_sample(store, 20, seed=2).column("id").to_pylist()

    # duplicates (dedup attributes) never enter the sample; a known domain becomes part of the stratum
    for ref in list_document_shards(store):
        ids = read_parquet(ref.url, columns=["id"]).column("id").to_pylist()
        dup = [i % 2 == 0 for i in range(len(ids))]
        write_parquet_atomic(
            store.attribute_shard("dedup", SNAP, ref.shard), pa.table({"id": ids, "is_duplicate": dup})
        )
        domain = ["Education" if i % 3 == 0 else "Other" for i in range(len(ids))]
        write_parquet_atomic(
            store.attribute_shard("scores", SNAP, ref.shard), pa.table({"id": ids, "domain": domain})
        )
    dup_ids = set()
    for ref in list_document_shards(store):
        t = read_parquet(store.attribute_shard("dedup", SNAP, ref.shard)).to_pylist()
        dup_ids |= {r["id"] for r in t if r["is_duplicate"]}
    sample = stratified_sample(store, 60, seed=1)
    assert not dup_ids & set(sample.column("id").to_pylist())
    assert len(sample) == len(docs) - len(dup_ids)
    assert {s.split("|")[1] for s in sample.column("stratum").to_pylist()} == {"Education", "Other"}


def _synthetic_shards(root: Path, shards: int, per_shard: int) -> Store:
    store = Store(str(root))
    for s in range(shards):
        ids = [f"{s:04d}-{i:06d}" for i in range(per_shard)]
        table = pa.table(
            {
                "id": ids,
                "url": [f"https://syn.test/{i}" for i in ids],
                "text": [f"document {i} " + "word " * 40 for i in ids],
                "language": ["en" if i % 4 else "de" for i in range(per_shard)],
            }
        )
        write_parquet_atomic(store.document_shard(SNAP, f"shard-{s:04d}"), table)
    return store


def _peak(root: Path, warm: Path) -> tuple[int, int]:
    """Rows sampled from the store at ``root`` and the peak of Python allocations while sampling (in a child:
    tests/traced_peak.py); a first sample of ``warm`` keeps imports and caches out of the measurement."""
    rows, peak, _ = traced_peak(
        setup="from tasks.rate.sample import stratified_sample\nfrom tasks.storage import Store",
        warm=f"stratified_sample(Store({str(warm)!r}), 50, seed=0)",
        call=f"stratified_sample(Store({str(root)!r}), 50, seed=0).num_rows",
    )
    return int(rows), peak


def test_sampling_memory_does_not_grow_with_the_corpus(tmp_path: Path) -> None:
    """One pass over every shard, but only a shard's columns and ``size`` candidates per stratum are held: the
    peak for 24 shards stays that of 3 shards (a sampler that collected every id first would hold 8x as many)."""
    _synthetic_shards(tmp_path / "warm", 1, 100)
    _synthetic_shards(tmp_path / "small", 3, 2_000)
    _synthetic_shards(tmp_path / "large", 24, 2_000)
    rows_small, small = _peak(tmp_path / "small", tmp_path / "warm")
    rows_large, large = _peak(tmp_path / "large", tmp_path / "warm")
    assert rows_small == rows_large == 50
    assert large < 1.5 * small, f"peak {large:,} bytes for 24 shards vs {small:,} for 3"
