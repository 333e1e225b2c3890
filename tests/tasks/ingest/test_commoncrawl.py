"""Common-Crawl-native input (issue 14, item 5): a snapshot of a CC root selected through its published
``warc.paths.gz`` / ``wet.paths.gz``, a deterministic file sample, one format of WARC and WET, and a file that
cannot be read quarantined as a file while the others are ingested. Real CC captures from ../shared/data are
linked into a CC layout in a tmp folder (never copied into the repo)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tasks.cli import main as quarry
from tasks.ingest import FilterConfig, IngestConfig, InputSelection, run_ingest
from tasks.ingest.commoncrawl import capture_key
from tasks.ingest.discover import InputError, discover
from tasks.ingest.shard import ShardSpec, ingest_shard
from tasks.ingest.unreadable import InputUnreadable
from tasks.storage import CompletionMarkers, Store

SNAP = "CC-MAIN-2024-33"
KEEP_ALL = FilterConfig(enabled=())  # no filter rule: every extracted page is a document
NPM = "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal"


def synthetic_paths(snapshot: str, kind: str, n: int) -> list[str]:
    """Lines of a listing in Common Crawl's own form (relative to the CC root)."""
    suffix = "warc.gz" if kind == "warc" else "warc.wet.gz"
    return [
        f"crawl-data/{snapshot}/segments/17226403{i // 10:05d}.{i % 10}/{kind}/"
        f"CC-MAIN-20240802{i:06d}-20240803{i:06d}-{i:05d}.{suffix}"
        for i in range(n)
    ]


def write_listing(snap_root: Path, kind: str, lines: list[str]) -> None:
    snap_root.mkdir(parents=True, exist_ok=True)
    (snap_root / f"{kind}.paths.gz").write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))


def real_cc_root(shared_data: Path, root: Path, listings: bool = True, missing: bool = False) -> Path:
    """A CC root with the real WARC/WET/WAT captures of ../shared/data linked in CC's layout; ``missing``: the
    listing also names a WARC file the store does not hold (a download that fails)."""
    cc = shared_data / "crawl" / "commoncrawl"
    captures = {
        "1408500800168.29": (NPM, cc / "npm-warc" / f"{NPM}.warc.gz", cc / "npm-warc" / f"{NPM}.warc.wet.gz"),
        "1715971058222.18": (
            "whirlwind",
            cc / "whirlwind" / "whirlwind.warc.gz",
            cc / "whirlwind" / "whirlwind.warc.wet.gz",
        ),
    }
    snap = root / "crawl-data" / SNAP
    paths: dict[str, list[str]] = {"warc": [], "wet": []}
    for segment, (name, warc, wet) in captures.items():
        for kind, target, suffix in (("warc", warc, "warc.gz"), ("wet", wet, "warc.wet.gz")):
            rel = f"segments/{segment}/{kind}/{name}.{suffix}"
            (snap / rel).parent.mkdir(parents=True, exist_ok=True)
            (snap / rel).symlink_to(target)
            paths[kind].append(f"crawl-data/{SNAP}/{rel}")
    wat = snap / "segments" / "1408500800168.29" / "wat" / f"{NPM}.warc.wat.gz"
    wat.parent.mkdir(parents=True)
    wat.symlink_to(cc / "npm-warc" / f"{NPM}.warc.wat.gz")
    if missing:
        paths["warc"].append(f"crawl-data/{SNAP}/segments/1715971058222.18/warc/gone-00001.warc.gz")
    if listings:
        for kind, lines in paths.items():
            write_listing(snap, kind, lines)
    return root


def test_listing_selects_the_snapshot_and_the_sample_is_deterministic(tmp_path: Path) -> None:
    root = tmp_path / "cc"
    warc = synthetic_paths(SNAP, "warc", 300)
    write_listing(root / "crawl-data" / SNAP, "warc", warc)
    write_listing(root / "crawl-data" / SNAP, "wet", synthetic_paths(SNAP, "wet", 300))
    write_listing(
        root / "crawl-data" / "CC-MAIN-2024-38", "warc", synthetic_paths("CC-MAIN-2024-38", "warc", 5)
    )

    everything = discover(str(root), SNAP)
    assert everything.snapshot == SNAP and everything.listing.endswith(f"{SNAP}/warc.paths.gz")
    assert len(everything.files) == everything.candidates == 300 and {f.kind for f in everything.files} == {
        "warc"
    }
    assert everything.files[0].url == str(root / warc[0])  # listing paths are relative to the CC root
    assert discover(str(root)).snapshot == "CC-MAIN-2024-38"  # no id: the newest snapshot
    with pytest.raises(InputError, match="CC-MAIN-1999-01 is not under"):
        discover(str(root), "CC-MAIN-1999-01")

    def sample(**kw: object) -> list[str]:
        return [f.url for f in discover(str(root), SNAP, InputSelection(**kw)).files]  # type: ignore[arg-type]

    seven = sample(sample_files=7)
    assert len(seven) == 7
    shuffled = list(warc)
    random.Random(3).shuffle(shuffled)
    write_listing(root / "crawl-data" / SNAP, "warc", shuffled)  # the same listing in another order
    assert sample(sample_files=7) == seven
    assert set(seven) < set(sample(sample_files=20))  # a bigger sample holds the smaller one
    assert sample(sample_files=7, sample_seed=1) != seven
    wet = sample(sample_files=7, crawl_format="wet")  # the same captures, in WET
    assert all(u.endswith(".warc.wet.gz") for u in wet)
    assert [capture_key(u.split(f"{SNAP}/", 1)[1]) for u in wet] == [
        capture_key(u.split(f"{SNAP}/", 1)[1]) for u in seven
    ]
    tenth = sample(sample_fraction=0.1)
    assert 15 <= len(tenth) <= 50 and set(tenth) < set(sample(sample_fraction=0.3))
    with pytest.raises(ValueError, match="not both"):
        InputSelection(sample_files=3, sample_fraction=0.5)


def test_a_root_with_warc_and_wet_of_the_same_captures_is_ingested_in_one_format(
    shared_data: Path, tmp_path: Path
) -> None:
    root = real_cc_root(shared_data, tmp_path / "cc", listings=False)
    found = discover(str(root), SNAP)  # no listing: the store is listed
    assert not found.listing and found.other_format == 2 and found.ignored_count == 1  # the WAT
    assert sorted(f.kind for f in found.files) == ["warc", "warc"]

    result = run_ingest(
        IngestConfig(input=str(root), snapshot=SNAP, store=str(tmp_path / "s1"), filters=KEEP_ALL, workers=0),
        dedup=False,
    )
    assert result.shards == 2 and result.other_format_files == 2 and result.documents >= 4
    assert result.counts["records"] == 5  # 4 + 1 HTML responses of the two WARC files
    sources = {
        r["source"]
        for p in (tmp_path / "s1" / "documents" / SNAP).glob("*.parquet")
        for r in pq.read_table(p, columns=["source"]).to_pylist()
    }
    assert sources == {"warc"}
    wet = run_ingest(
        IngestConfig(
            input=str(root),
            snapshot=SNAP,
            store=str(tmp_path / "s2"),
            select=InputSelection(crawl_format="wet"),
            filters=KEEP_ALL,
            workers=0,
        ),
        dedup=False,
    )
    assert wet.shards == 2 and wet.documents >= 2
    assert all(
        p.name.endswith(".wet.parquet") for p in (tmp_path / "s2" / "documents" / SNAP).glob("*.parquet")
    )


def test_an_unreadable_file_is_quarantined_and_the_run_goes_on(shared_data: Path, tmp_path: Path) -> None:
    root = real_cc_root(shared_data, tmp_path / "cc", missing=True)
    store = Store(str(tmp_path / "store"))
    config = IngestConfig(
        input=str(root),
        snapshot=SNAP,
        store=store.root,
        select=InputSelection(file_retries=2, retry_delay_s=0.0),
        filters=KEEP_ALL,
        workers=0,
    )
    found = discover(config.input, SNAP, config.select)
    assert found.listing.endswith("warc.paths.gz") and len(found.files) == 3
    bad = next(f for f in found.files if "gone-00001" in f.url)
    with pytest.raises(InputUnreadable, match="file_not_found"):  # without the quarantine: the shard fails
        ingest_shard(ShardSpec(bad, SNAP, config))

    first = run_ingest(config, dedup=False)
    assert first.shards == 3 and first.summary()["quarantined files"] == 1
    assert first.counts["quarantined_file:file_not_found"] == 1 and first.documents >= 4
    record_path = Path(store.path("quarantine", SNAP, "_files", f"{bad.shard}.json"))
    record = json.loads(record_path.read_text())
    assert record["file"] == bad.url and record["reason"] == "file_not_found" and record["attempts"] == 3
    markers = CompletionMarkers(store.markers("ingest", SNAP))
    assert sorted(markers.done()) == sorted(f.shard for f in found.files if f is not bad)
    docs = sorted(p.name for p in Path(store.documents(SNAP)).glob("*.parquet"))
    assert len(docs) == 2

    again = run_ingest(config, dedup=False)  # idempotent: good files skipped, the bad one quarantined again
    assert again.shards_skipped == 2 and again.summary()["quarantined files"] == 1
    assert again.documents == first.documents and json.loads(record_path.read_text()) == record
    assert sorted(p.name for p in Path(store.documents(SNAP)).glob("*.parquet")) == docs

    target = Path(bad.url)  # the file arrives: the next run ingests it and the quarantine record goes
    target.symlink_to(shared_data / "crawl" / "commoncrawl" / "jwarc" / "cc.warc.gz")
    fixed = run_ingest(config, dedup=False)
    assert fixed.summary()["quarantined files"] == 0 and fixed.shards_skipped == 2
    assert not record_path.exists() and markers.is_done(bad.shard)


def test_cli_takes_a_snapshot_a_sample_and_a_format(shared_data: Path, tmp_path: Path) -> None:
    root = real_cc_root(shared_data, tmp_path / "cc")
    store = tmp_path / "store"
    args = ["--store", str(store), "ingest", str(root), "--snapshot", SNAP, "--workers", "0", "--no-dedup"]
    assert quarry([*args, "--format", "wet", "--sample-files", "1"]) == 0
    shards = list((store / "documents" / SNAP).glob("*.parquet"))
    assert len(shards) == 1 and shards[0].name.endswith(".wet.parquet")
    bigger = InputSelection(crawl_format="wet", sample_files=2)  # holds the first sample: that shard is kept
    more = run_ingest(
        IngestConfig(input=str(root), snapshot=SNAP, store=str(store), select=bigger, workers=0), dedup=False
    )
    assert more.shards == 2 and more.shards_skipped == 1
    assert quarry([*args, "--snapshot", "CC-MAIN-1999-01"]) == 2  # an unknown snapshot: a one-line error


def test_dag_params_pick_the_snapshot_format_and_sample(tmp_path: Path) -> None:
    from tasks.ingest.airflow_glue import plan_batches

    root = tmp_path / "cc"
    write_listing(root / "crawl-data" / SNAP, "warc", synthetic_paths(SNAP, "warc", 40))
    write_listing(root / "crawl-data" / SNAP, "wet", synthetic_paths(SNAP, "wet", 40))
    write_listing(
        root / "crawl-data" / "CC-MAIN-2024-38", "warc", synthetic_paths("CC-MAIN-2024-38", "warc", 3)
    )
    params = {"input": str(root), "snapshot": SNAP, "crawl_format": "wet", "sample_files": 5, "batch_size": 2}
    batches = plan_batches(params, str(tmp_path / "store"))
    urls = [f["url"] for b in batches for f in b["files"]]
    assert len(batches) == 3 and {b["snapshot"] for b in batches} == {SNAP}
    expected = discover(str(root), SNAP, InputSelection(crawl_format="wet", sample_files=5)).files
    assert urls == [f.url for f in expected] and all(u.endswith(".warc.wet.gz") for u in urls)
