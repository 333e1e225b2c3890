"""Exact and MinHash dedup across shards and across snapshots; documents are never rewritten."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from crawlgen import article_html, readable_articles, write_warc

from tasks.ingest import IngestConfig, run_ingest
from tasks.ingest.dedup import components


def test_components_joins_transitively_to_the_earliest() -> None:
    a = np.array([1, 2, 2, 3, 4], dtype=np.uint64)
    b = np.array([9, 8, 7, 7, 6], dtype=np.uint64)
    assert components([a, b], 5).tolist() == [0, 1, 1, 1, 4]


def _dedup_rows(store: Path, snapshot: str) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for shard in sorted((store / "documents" / snapshot).glob("*.parquet")):
        docs = pq.read_table(shard, columns=["id", "url"]).to_pylist()
        attrs = pq.read_table(store / "attributes" / "dedup" / snapshot / shard.name).to_pylist()
        assert [d["id"] for d in docs] == [a["id"] for a in attrs]  # aligned row by row
        for d, a in zip(docs, attrs, strict=True):
            out[str(d["url"])] = a
    return out


def test_exact_and_fuzzy_duplicates_across_shards_and_snapshots(shared_data: Path, tmp_path: Path) -> None:
    # article 1 (mostly figures) fails the Gopher alpha-word rule; every page here must pass the filters
    arts = [a for i, a in enumerate(readable_articles(shared_data, limit=9)) if i != 1]
    title, paras = arts[0]
    near = [paras[0].replace(".", ". Indeed,", 1), *paras[1:]]  # one small edit: a near duplicate
    snap1 = tmp_path / "snap1"
    write_warc(
        snap1 / "a.warc.gz",
        [(f"https://a.example/{i}", article_html(t, p)) for i, (t, p) in enumerate(arts[:4])],
    )
    write_warc(
        snap1 / "b.warc.gz",
        [
            ("https://mirror.example/copy", article_html(title, paras)),  # exact copy of a.example/0
            ("https://mirror.example/near", article_html(title, near)),  # fuzzy copy
            ("https://b.example/own", article_html(*arts[4])),
        ],
    )
    store = tmp_path / "store"
    run_ingest(IngestConfig(input=str(snap1), store=str(store), workers=0))
    rows = _dedup_rows(store, "snap1")
    assert rows["https://a.example/0"]["is_duplicate"] is False
    assert rows["https://mirror.example/copy"]["exact_duplicate"] is True
    assert rows["https://mirror.example/near"]["fuzzy_duplicate"] is True
    assert rows["https://mirror.example/near"]["is_duplicate"] is True
    assert rows["https://b.example/own"]["is_duplicate"] is False
    first_id = pq.read_table(store / "documents" / "snap1" / "a.warc.parquet").column("id")[0].as_py()
    assert rows["https://mirror.example/copy"]["duplicate_of"] == first_id

    # A later snapshot that re-crawls a page is deduplicated against the earlier one in the same store.
    snap2 = tmp_path / "snap2"
    write_warc(
        snap2 / "c.warc.gz",
        [("https://a.example/1", article_html(*arts[1])), ("https://c.example/new", article_html(*arts[6]))],
    )
    before = (store / "documents" / "snap1" / "a.warc.parquet").read_bytes()
    result = run_ingest(IngestConfig(input=str(snap2), store=str(store), workers=0))
    assert result.dedup is not None and result.dedup.reference_documents == 7
    rows2 = _dedup_rows(store, "snap2")
    assert rows2["https://a.example/1"]["exact_duplicate"] is True
    assert rows2["https://c.example/new"]["is_duplicate"] is False
    assert (store / "documents" / "snap1" / "a.warc.parquet").read_bytes() == before

    # Rerunning dedup on an unchanged snapshot is a no-op.
    again = run_ingest(IngestConfig(input=str(snap2), store=str(store), workers=0))
    assert again.dedup is not None and again.dedup.skipped_done
