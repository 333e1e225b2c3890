"""The ingest stage end to end on real crawl data, on a real Dask LocalCluster: extraction quality against
trafilatura's snippets, resumability after a kill, byte-identical reruns."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tasks.ingest import IngestConfig, run_ingest
from tasks.ingest.evaluate import evaluate_extraction
from tasks.ingest.sample_snapshot import DEFAULT_SNAPSHOT, make_sample_snapshot

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def sample(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    make_sample_snapshot(shared_data, str(out))
    return out


@pytest.fixture(scope="module")
def clean_store(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted ingest of the sample snapshot on a 2-worker Dask LocalCluster."""
    store = tmp_path_factory.mktemp("clean")
    run_ingest(IngestConfig(input=str(sample / "crawl-data" / DEFAULT_SNAPSHOT), store=str(store), workers=2))
    return store


def _files(store: Path, sub: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((store / sub).glob("*.parquet"))}


def test_sample_snapshot_is_deterministic(shared_data: Path, sample: Path, tmp_path: Path) -> None:
    again = make_sample_snapshot(shared_data, str(tmp_path))
    first = sorted((sample / "crawl-data").rglob("*.warc.gz"))
    assert len(first) == len(again) >= 8
    assert [p.read_bytes() for p in first] == [Path(p).read_bytes() for p in sorted(again)]


def test_extraction_quality_and_language(sample: Path, clean_store: Path) -> None:
    report = evaluate_extraction(str(clean_store), DEFAULT_SNAPSHOT, str(sample / "evaldata.json"))
    print("extraction report:", report.as_dict())
    assert report.found / report.pages >= 0.98
    assert report.must_recall >= 0.9
    assert report.pass_share >= 0.4
    assert report.language_correct / report.language_checked >= 0.95
    # Case-folded matching (the CLI's --fold-case) finds every snippet the reference finds, and more.
    folded = evaluate_extraction(
        str(clean_store), DEFAULT_SNAPSHOT, str(sample / "evaldata.json"), fold_case=True
    )
    assert folded.must_recall >= report.must_recall
    assert folded.must_not_clean < report.must_not_clean


def test_rerun_skips_completed_shards(sample: Path, clean_store: Path) -> None:
    before = _files(clean_store, f"documents/{DEFAULT_SNAPSHOT}")
    result = run_ingest(
        IngestConfig(input=str(sample / "crawl-data" / DEFAULT_SNAPSHOT), store=str(clean_store), workers=0)
    )
    assert result.shards_skipped == result.shards == len(before)
    assert result.dedup is not None and result.dedup.skipped_done
    assert _files(clean_store, f"documents/{DEFAULT_SNAPSHOT}") == before


def test_kill_mid_run_then_rerun_is_byte_identical(sample: Path, clean_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    snapshot_dir = sample / "crawl-data" / DEFAULT_SNAPSHOT
    cmd = [
        sys.executable,
        "-m",
        "tasks.cli",
        "--store",
        str(store),
        "ingest",
        str(snapshot_dir),
        "--workers",
        "0",
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "QUARRY_PROGRESS": "0"}, start_new_session=True)
    markers = store / "_markers" / "ingest" / DEFAULT_SNAPSHOT
    deadline = time.time() + 120

    def finished() -> int:  # a marker's temp (".tmp-…-<shard>.done", not yet renamed) is not a finished shard
        return sum(1 for p in markers.glob("*.done") if not p.name.startswith("."))

    while time.time() < deadline and finished() < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = finished()
    total = len(list(snapshot_dir.rglob("*.warc.gz")))
    assert 2 <= done_before < total, "the kill must land mid-run"
    # No partial files: every file in documents/ is a complete Parquet file.
    for path in (store / "documents" / DEFAULT_SNAPSHOT).glob("*"):
        if path.suffix == ".parquet" and not path.name.startswith(".tmp-"):
            pq.read_metadata(path)  # a final name always holds a complete file

    result = run_ingest(IngestConfig(input=str(snapshot_dir), store=str(store), workers=2))
    assert result.shards_skipped == done_before
    assert _files(store, f"documents/{DEFAULT_SNAPSHOT}") == _files(
        clean_store, f"documents/{DEFAULT_SNAPSHOT}"
    )
    assert _files(store, f"attributes/dedup/{DEFAULT_SNAPSHOT}") == _files(
        clean_store, f"attributes/dedup/{DEFAULT_SNAPSHOT}"
    )
    ids = [
        i
        for p in (store / "documents" / DEFAULT_SNAPSHOT).glob("*.parquet")
        for i in pq.read_table(p).column("id").to_pylist()
    ]
    assert len(ids) == len(set(ids))


def test_whole_shared_crawl_folder(shared_data: Path, tmp_path: Path) -> None:
    """Every real capture in ../shared/data/crawl: Common Crawl WARC/WET, other web archives, JSONL."""
    result = run_ingest(
        IngestConfig(
            input=str(shared_data / "crawl"), store=str(tmp_path), snapshot="shared-crawl", workers=2
        )
    )
    assert result.shards >= 14
    assert result.counts["records"] >= 200
    assert result.documents >= 50
    assert result.counts["skipped:revisit"] >= 50  # British Library revisit records
    assert result.counts["skipped:dns"] >= 3  # Heritrix DNS lookups are bookkeeping, not bad records
    assert result.counts["quarantined:truncated_gzip"] == 1  # the clipped houstonpress capture
    assert result.counts["quarantined:binary_content"] >= 5  # images served in response records
    assert all(f.endswith((".wat.gz", ".md", ".json", ".tar.xz", "LICENSE")) for f in result.ignored_files)
    langs = {
        lang
        for p in (tmp_path / "documents" / "shared-crawl").glob("*.parquet")
        for lang in pq.read_table(p, columns=["language"]).column("language").to_pylist()
    }
    assert "en" in langs and len(langs) >= 3
