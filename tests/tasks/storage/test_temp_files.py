"""Temporary files never count as work and never reach a reader; only a dead writer's temps are removed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from tasks.storage import CompletionMarkers, list_files, remove_stale_temps, write_json_atomic
from tasks.storage.fs import temp_name, write_parquet_atomic


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_listers_skip_temporary_files(tmp_path: Path) -> None:
    markers = CompletionMarkers(str(tmp_path / "_markers"))
    markers.mark_done("shard-a")
    (tmp_path / "_markers" / temp_name("shard-b.done")).write_text("{}")  # a kill mid-write left this
    write_parquet_atomic(str(tmp_path / "docs" / "a.parquet"), pa.table({"x": [1]}))
    (tmp_path / "docs" / temp_name("b.parquet")).write_bytes(b"PAR1 half")
    assert markers.done() == {"shard-a"}
    assert [Path(u).name for u in list_files(str(tmp_path / "docs"), (".parquet",))] == ["a.parquet"]


def test_remove_stale_temps_keeps_live_writers(tmp_path: Path) -> None:
    live = tmp_path / temp_name("live.parquet")  # this process: alive
    live.write_bytes(b"x")
    host = temp_name("x").split("-")[1]
    dead = tmp_path / f".tmp-{host}-{_dead_pid()}-0123456789ab-dead.parquet"
    dead.write_bytes(b"x")
    foreign_new = tmp_path / ".tmp-otherhost-1-0123456789ab-new.json"
    foreign_new.write_bytes(b"x")
    foreign_old = tmp_path / ".tmp-otherhost-1-0123456789ab-old.json"
    foreign_old.write_bytes(b"x")
    os.utime(foreign_old, (1, 1))
    write_json_atomic(str(tmp_path / "kept.json"), {"a": 1})
    assert remove_stale_temps(str(tmp_path)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, foreign_new.name, "kept.json"])
