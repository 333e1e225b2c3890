"""kill -9 at each write boundary of ingest + dedup (a completion marker, a Parquet shard, a JSON summary):
the rerun succeeds and the store equals an uninterrupted run's, with no temporary file left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from crawlgen import readable_articles, write_cc_snapshot

REPO = Path(__file__).resolve().parents[3]
SNAPSHOT = "CC-MAIN-2026-31"
RUN = (
    "import sys; from tasks.ingest import IngestConfig, run_ingest; "
    "run_ingest(IngestConfig(input=sys.argv[1], store=sys.argv[2], workers=0))"
)
VOLATILE = {"finished_at", "seconds", "wall_seconds", "shards already done"}  # per-run figures


def _ingest(crawl: Path, store: Path, failpoint: str | None = None) -> int:
    env = {**os.environ, "QUARRY_PROGRESS": "0"}
    env.pop("QUARRY_FAILPOINT", None)
    if failpoint:
        env["QUARRY_FAILPOINT"] = failpoint
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(crawl), str(store)],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=300,
    )
    return proc.returncode


def _strip(value: object) -> object:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _state(store: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for path in sorted(p for p in store.rglob("*") if p.is_file()):
        rel = str(path.relative_to(store))
        out[rel] = (
            _strip(json.loads(path.read_text())) if path.suffix in (".json", ".done") else path.read_bytes()
        )
    return out


@pytest.fixture(scope="module")
def crawl(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crawl")
    return write_cc_snapshot(root, SNAPSHOT, readable_articles(shared_data, limit=24), files=3)


@pytest.fixture(scope="module")
def reference(crawl: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    store = tmp_path_factory.mktemp("reference")
    assert _ingest(crawl, store) == 0
    return _state(store)


@pytest.mark.parametrize(
    "failpoint",
    [
        "kill-before-rename:.parquet:2",  # inside the first shard, between two of its Parquet outputs
        "kill-before-rename:.done:2",  # the second shard's completion marker
        "kill-before-rename:.json:1",  # the first shard's JSON stats
        "kill-before-rename:summary.json:1",  # dedup's JSON summary, after every shard finished
        "kill-before-rename:_snapshot.done:1",  # dedup's completion marker
    ],
)
def test_kill_at_a_write_boundary_then_rerun(
    failpoint: str, crawl: Path, reference: dict[str, object], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    assert _ingest(crawl, store, failpoint) == -signal.SIGKILL
    assert any(p.name.startswith(".tmp-") for p in store.rglob("*")), "the kill should leave a temp file"
    assert _ingest(crawl, store) == 0
    state = _state(store)
    assert not [k for k in state if "/.tmp-" in k or k.startswith(".tmp-")]
    assert sorted(state) == sorted(reference)
    assert state == reference
