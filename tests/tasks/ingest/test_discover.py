"""One crawl file is one shard whatever the spelling of the input; a changed file is ingested again and the
stages downstream see it; an empty file is reported, not silently "done"."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from crawlgen import readable_articles, write_cc_snapshot

from tasks.ingest import IngestConfig, run_ingest
from tasks.ingest.discover import InputError, discover
from tasks.storage import CompletionMarkers, Store

SNAPSHOT = "CC-MAIN-2026-32"


@pytest.fixture
def crawl_root(shared_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "cc"
    write_cc_snapshot(root, "CC-MAIN-2026-01", readable_articles(shared_data, limit=4), files=1)
    write_cc_snapshot(root, SNAPSHOT, readable_articles(shared_data, limit=12), files=3)
    return root


def test_every_spelling_names_the_same_shards(
    crawl_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap = crawl_root / "crawl-data" / SNAPSHOT
    link = tmp_path / "link-to-crawl"
    link.symlink_to(crawl_root)
    monkeypatch.chdir(crawl_root)
    one_file = next(snap.rglob("*.warc.gz"))
    spellings = [
        str(snap),  # absolute
        f"crawl-data/{SNAPSHOT}",  # relative
        f"./crawl-data/../crawl-data/{SNAPSHOT}/",  # dots and a trailing slash
        str(crawl_root),  # the crawl root: its newest snapshot
        str(link / "crawl-data" / SNAPSHOT),  # through a symlink
        f"file://{snap}",
    ]
    found = [discover(s) for s in spellings]
    assert {f.snapshot for f in found} == {SNAPSHOT}
    shards = [sorted(x.shard for x in f.files) for f in found]
    assert all(s == shards[0] for s in shards) and len(shards[0]) == 3
    single = discover(str(one_file))  # a single file of the snapshot: the same shard name as in the folder
    assert single.snapshot == SNAPSHOT and single.files[0].shard in shards[0]


def test_same_snapshot_by_two_spellings_is_stored_once(crawl_root: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = run_ingest(IngestConfig(input=str(crawl_root), store=str(store), workers=0))
    again = run_ingest(
        IngestConfig(input=f"{crawl_root}/crawl-data/../crawl-data/{SNAPSHOT}", store=str(store), workers=0)
    )
    assert first.snapshot == again.snapshot == SNAPSHOT
    assert again.shards_skipped == again.shards == 3
    assert sorted(os.listdir(store / "documents")) == [SNAPSHOT]
    assert len(list((store / "documents" / SNAPSHOT).glob("*.parquet"))) == 3


def test_odd_inputs_get_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        discover(str(tmp_path / "absent"))
    (tmp_path / "notes.txt").write_text("not a crawl file")
    with pytest.raises(InputError, match="no crawl files"):
        discover(str(tmp_path))


def test_changed_file_is_ingested_again_and_downstream_sees_it(shared_data: Path, tmp_path: Path) -> None:
    articles = readable_articles(shared_data, limit=40)
    snap = write_cc_snapshot(tmp_path / "cc", SNAPSHOT, articles[:6], files=1)
    store = Store(str(tmp_path / "store"))
    target = next(snap.rglob("*.warc.gz"))
    partial = target.read_bytes()  # a crawl file taken while it was still being written ...
    run_ingest(IngestConfig(input=str(snap), store=store.root, workers=0))
    shard = next(iter(CompletionMarkers(store.markers("ingest", SNAPSHOT)).done()))
    version_before = store.documents_version(SNAPSHOT, shard)
    corpus_before = store.corpus_version([SNAPSHOT])
    docs_before = pq.read_table(store.document_shard(SNAPSHOT, shard)).num_rows

    write_cc_snapshot(tmp_path / "cc", SNAPSHOT, articles, files=1)  # ... then completed
    assert target.read_bytes() != partial
    result = run_ingest(IngestConfig(input=str(snap), store=store.root, workers=0))
    assert result.shards_skipped == 0
    assert pq.read_table(store.document_shard(SNAPSHOT, shard)).num_rows > docs_before
    assert store.documents_version(SNAPSHOT, shard) != version_before
    assert store.corpus_version([SNAPSHOT]) != corpus_before  # a new mixture name downstream
    assert result.dedup is not None and not result.dedup.skipped_done  # dedup redone over the new shard
    unchanged = run_ingest(IngestConfig(input=str(snap), store=store.root, workers=0))
    assert unchanged.shards_skipped == 1 and unchanged.dedup is not None and unchanged.dedup.skipped_done


def test_empty_files_get_a_quarantine_row(tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    (folder / "zero.warc.gz").write_bytes(b"")
    (folder / "empty-member.warc.gz").write_bytes(gzip.compress(b""))
    store = tmp_path / "store"
    result = run_ingest(IngestConfig(input=str(folder), store=str(store), workers=0))
    assert result.counts.get("quarantined:empty_file") == 2
    reasons = [
        r["reason"]
        for p in (store / "quarantine" / "flat").glob("*.parquet")
        for r in pq.read_table(p).to_pylist()
    ]
    assert reasons.count("empty_file") == 2
