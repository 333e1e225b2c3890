"""Common-Crawl-native input: a snapshot of a CC root, its published file listings, and a deterministic
sample of its files.

* **Snapshot of a root.** A root that holds ``crawl-data/<id>/`` (``s3://commoncrawl/`` or a local mirror) is
  read at ``crawl-data/<snapshot>`` when a snapshot id is given (``CC-MAIN-2024-33``), else at its newest.
* **Listings.** Common Crawl publishes ``crawl-data/<id>/warc.paths.gz`` and ``wet.paths.gz``: one file path
  per line, relative to the CC root (``crawl-data/<id>/segments/<segment>/warc/<name>.warc.gz``). When the
  snapshot root has them, files are selected from the listing (streamed line by line) instead of listing
  ~270k objects; a listed file that cannot be read is quarantined when ingested (``tasks/ingest/unreadable``).
* **One format.** WARC and WET of the same captures are never both ingested (``InputSelection.crawl_format``).
* **Sample.** ``sample_files=N`` keeps the N files with the smallest ``blake2b(seed, snapshot, capture)``,
  ``sample_fraction=f`` those whose hash falls below ``f``. The capture is the file's path below the snapshot
  root without its format folder and suffix (``segments/<seg>/<name>`` for both ``warc/<name>.warc.gz`` and
  ``wet/<name>.warc.wet.gz``), so the sample does not depend on listing order, on how the root is spelled, or
  on the format, and a larger sample contains a smaller one. Memory: N entries (fraction: the kept files).
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tasks.errors import ConfigurationError
from tasks.storage import exists, join, list_dirs, open_input

LISTINGS = {"warc": "warc.paths.gz", "wet": "wet.paths.gz"}
_CAPTURE_SUFFIX = re.compile(
    r"\.(warc\.wet|warc\.wat|warc|wet|wat|arc|jsonl|json|ndjson)(\.gz)?$", re.IGNORECASE
)
_FORMAT_FOLDERS = {"warc", "wet", "wat"}

T = TypeVar("T")


class SnapshotNotFound(ConfigurationError):
    """A snapshot id that the crawl root does not hold."""


def snapshot_root(root: str, snapshot: str | None = None) -> str:
    """``root`` itself, or, for a Common Crawl root (one that holds ``crawl-data/``), its snapshot
    ``crawl-data/<snapshot>`` (given) or its newest one (ids sort chronologically: CC-MAIN-YYYY-WW)."""
    crawl_data = join(root, "crawl-data")
    if not exists(crawl_data):
        return root
    if snapshot:
        candidate = join(crawl_data, snapshot)
        if exists(candidate):
            return candidate
        raise SnapshotNotFound(f"snapshot {snapshot} is not under {crawl_data}")
    ids = list_dirs(crawl_data)
    if not ids:
        raise SnapshotNotFound(f"no snapshots under {crawl_data}")
    return join(crawl_data, ids[-1])


def find_listing(snap_root: str, crawl_format: str) -> tuple[str, str] | None:
    """``(kind, listing URL)`` of the published listing to use for ``crawl_format`` (auto: WARC if listed,
    else WET), or None when the snapshot root has no such listing."""
    kinds = ["warc", "wet"] if crawl_format == "auto" else [crawl_format]
    for kind in kinds:
        url = join(snap_root, LISTINGS[kind])
        if exists(url):
            return kind, url
    return None


def cc_root_of(snap_root: str) -> str:
    """The CC root the listing's paths are relative to: the folder above ``crawl-data/<id>``."""
    head, sep, _ = snap_root.rstrip("/").rpartition("/crawl-data/")
    return head if sep else snap_root


def iter_listing(listing_url: str) -> Iterator[str]:
    """The file paths of a ``*.paths.gz`` listing (or a plain one), one at a time, blank lines left out."""
    with open_input(listing_url) as raw:
        stream = gzip.GzipFile(fileobj=raw) if listing_url.endswith(".gz") else raw
        for line in io.TextIOWrapper(stream, encoding="utf-8"):  # type: ignore[arg-type]
            path = line.strip()
            if path:
                yield path.lstrip("/")


def capture_key(relative: str) -> str:
    """The capture a file holds, the same for its WARC and WET: its path below the snapshot root without a
    ``warc``/``wet``/``wat`` folder and without its format suffix."""
    parts = [p for p in relative.strip("/").split("/") if p]
    if not parts:
        return ""
    name = _CAPTURE_SUFFIX.sub("", parts[-1])
    folders = [p for p in parts[:-1] if p.lower() not in _FORMAT_FOLDERS]
    return "/".join([*folders, name])


def sample_hash(seed: int, snapshot: str, capture: str) -> int:
    digest = hashlib.blake2b(f"{seed}\0{snapshot}\0{capture}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass
class FileSample(Generic[T]):
    """Keeps what a deterministic hash sample selects from files offered one at a time, in bounded memory.
    No ``n`` and no ``fraction``: keeps everything."""

    snapshot: str
    seed: int = 0
    n: int | None = None
    fraction: float | None = None
    offered: int = 0
    _heap: list[tuple[int, str, T]] = field(default_factory=list)  # n: max-heap via negated hashes
    _kept: list[tuple[int, str, T]] = field(default_factory=list)

    def offer(self, relative: str, item: T) -> None:
        self.offered += 1
        h = sample_hash(self.seed, self.snapshot, capture_key(relative))
        if self.n is not None:
            entry = (-h, relative, item)
            if len(self._heap) < self.n:
                heapq.heappush(self._heap, entry)
            elif (-h, relative) > (self._heap[0][0], self._heap[0][1]):
                heapq.heapreplace(self._heap, entry)
        elif self.fraction is None or h < self.fraction * 2.0**64:
            self._kept.append((h, relative, item))

    def entries(self) -> list[tuple[int, str, T]]:
        """``(hash, relative, item)`` of the kept files."""
        if self.n is not None:
            return [(-h, rel, item) for h, rel, item in self._heap]
        return list(self._kept)


def merge_samples(samples: list[FileSample[T]], n: int | None) -> list[tuple[str, T]]:
    """``(relative, item)`` of what ``n`` (or, without ``n``, every kept file) selects from several samples
    together, in relative-path order."""
    entries = [e for s in samples for e in s.entries()]
    if n is not None:
        entries = heapq.nsmallest(n, entries, key=lambda e: (e[0], e[1]))
    return [(rel, item) for _, rel, item in sorted(entries, key=lambda e: e[1])]
