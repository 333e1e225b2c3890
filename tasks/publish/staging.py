"""The local staging folder a publisher writes its Parquet shards into before uploading them.

A folder is named ``quarry-publish-<host>-<pid>-<start>-<release>-<random>`` inside the staging root
(``$QUARRY_PUBLISH_STAGING``, else the system temporary directory): ``<host>`` is a short hash of the host
name, ``<pid>`` and ``<start>`` identify the publishing process (``<start>`` is its start time in clock ticks
since boot from ``/proc/<pid>/stat``, 0 where there is no ``/proc``). A publisher removes its folder when it
ends; one that was killed cannot, so every publisher first reclaims the folders of this host's dead
publishers: those whose pid is gone, or whose pid now belongs to a process started at another time (a reused
pid). Folders of other hosts (a shared temporary directory) and of live publishers are left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.publish.manifest import SHARDS_DIR, ShardEntry
from tasks.publish.objectstore import sha256_file
from tasks.storage.fs import pid_alive

log = logging.getLogger(__name__)

STAGING_ENV = "QUARRY_PUBLISH_STAGING"
PREFIX = "quarry-publish-"
_NAME = re.compile(r"^quarry-publish-([0-9a-f]{8})-([0-9]+)-([0-9]+)-")


def staging_root() -> str:
    return os.environ.get(STAGING_ENV) or tempfile.gettempdir()


def host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``); 0 without ``/proc``; None if
    there is no such process."""
    if not os.path.isdir("/proc/self"):
        return 0 if pid_alive(pid) else None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return 0  # there, but unreadable: alive, start unknown
    # the command name (field 2) is in parentheses and may hold spaces: split after its closing bracket
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 of stat(5), counted from field 3
    except (IndexError, ValueError):
        return 0


@dataclass(frozen=True)
class StagingOwner:
    host: str
    pid: int
    start: int

    def dead(self) -> bool:
        """True only when this host can tell the owner is gone."""
        if self.host != host_tag():
            return False
        start = process_start(self.pid)
        return start is None or (start != self.start and self.start != 0 and start != 0)


def owner_of(folder_name: str) -> StagingOwner | None:
    match = _NAME.match(folder_name)
    if not match:
        return None  # not ours (or a folder from before this naming): leave it
    return StagingOwner(match.group(1), int(match.group(2)), int(match.group(3)))


def reclaim_dead_staging(root: str | None = None) -> list[str]:
    """Remove the staging folders of dead publishers on this host; return their paths."""
    root = root or staging_root()
    reclaimed = []
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    uid = os.getuid()
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        owner = owner_of(entry.name)
        try:
            mine = entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == uid
        except FileNotFoundError:
            continue
        if owner is None or not mine or not owner.dead():
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        if not os.path.exists(entry.path):
            log.info("reclaimed the staging folder of a dead publisher: %s", entry.path)
            reclaimed.append(entry.path)
    return reclaimed


def reclaim_dead_parts(parts_url: str) -> list[str]:
    """Remove the part folders (``<store>/_publish/<staging folder name>-<prefix>``) that dead publishers of
    this host left in the store (a cluster publish killed before its merge); return their names. A live or
    foreign publisher's folder is left alone."""
    from tasks.storage.fs import join, list_dirs, remove

    reclaimed = []
    for name in list_dirs(parts_url):
        owner = owner_of(name)
        if owner is not None and owner.dead():
            remove(join(parts_url, name), recursive=True)
            log.info("reclaimed the publish parts of a dead publisher: %s", name)
            reclaimed.append(name)
    return reclaimed


@contextlib.contextmanager
def staging_folder(release: str, root: str | None = None) -> Iterator[str]:
    """A fresh staging folder for this process (removed on exit); dead publishers' folders go first."""
    root = root or staging_root()
    os.makedirs(root, exist_ok=True)
    reclaim_dead_staging(root)
    pid = os.getpid()
    start = process_start(pid) or 0
    path = tempfile.mkdtemp(prefix=f"{PREFIX}{host_tag()}-{pid}-{start}-{release}-", dir=root)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class StagedShard:
    path: str  # the local file
    entry: ShardEntry


def write_release_shard(table: pa.Table, staging: str, name: str, domain: str) -> StagedShard:
    """Write one release shard as ``shards/<name>`` (one ``pq.write_table`` call: the bytes depend on it and on
    the table's chunking) and return it with its manifest entry."""
    path = os.path.join(staging, SHARDS_DIR, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(table, path, compression="zstd", write_statistics=True)
    reps = pc.cast(table["repetitions"], pa.int64())
    entry = ShardEntry(
        path=f"{SHARDS_DIR}/{name}",
        domain=domain,
        rows=len(table),
        documents=int(pc.sum(reps).as_py() or 0),
        tokens=int(pc.sum(pc.multiply(table["n_tokens"], reps)).as_py() or 0),
        size=os.path.getsize(path),
        sha256=sha256_file(path),
    )
    return StagedShard(path, entry)


def stage_shards(table: pa.Table, staging: str, max_rows: int, prefix: str = "part") -> list[StagedShard]:
    """Write ``table`` (sorted by domain) as ``shards/<prefix>-NNNNN.parquet`` files of at most ``max_rows``
    rows, one domain per file, with deterministic bytes; return them with their manifest entries.

    The in-memory reference for :func:`tasks.publish.streamed.merge_parts`, which publication uses (tests
    check that both give the same bytes)."""
    os.makedirs(os.path.join(staging, SHARDS_DIR), exist_ok=True)
    staged: list[StagedShard] = []
    domains = table["domain"]
    groups = (
        pa.table({"domain": domains}).group_by(["domain"], use_threads=False).aggregate([([], "count_all")])
    )
    offset = 0
    for domain, count in zip(groups["domain"].to_pylist(), groups["count_all"].to_pylist(), strict=True):
        for start in range(0, count, max_rows):
            part = table.slice(offset + start, min(max_rows, count - start))
            name = f"{prefix}-{len(staged):05d}.parquet"
            staged.append(write_release_shard(part, staging, name, str(domain)))
        offset += count
    return staged
