"""Completion markers for sharded work (datatrove's idea): a shard is done iff its marker exists.

The marker is written last, after every output of the shard has been written atomically, so a crash at any
point leaves the shard "not done" and a rerun redoes exactly that shard.
"""

from __future__ import annotations

import time
from typing import Any

from tasks.storage.fs import exists, join, list_files, read_json, write_json_atomic


class CompletionMarkers:
    def __init__(self, directory: str) -> None:
        self.directory = directory

    def path(self, shard: str) -> str:
        return join(self.directory, f"{shard}.done")

    def is_done(self, shard: str) -> bool:
        return exists(self.path(shard))

    def mark_done(self, shard: str, info: dict[str, Any] | None = None) -> None:
        write_json_atomic(self.path(shard), {"shard": shard, "finished_at": time.time(), **(info or {})})

    def info(self, shard: str) -> dict[str, Any]:
        data = read_json(self.path(shard))
        assert isinstance(data, dict)
        return data

    def done(self) -> set[str]:
        return {
            url.rsplit("/", 1)[-1][: -len(".done")]
            for url in list_files(self.directory, (".done",), recursive=False)
        }
