"""Find the crawl files of a snapshot and name their shards.

A crawl file is one shard whatever the spelling of the input: the shard is named after the file's path
relative to the **snapshot root** (``…/crawl-data/<id>/`` in the Common Crawl layout, else the folder given),
so a relative, absolute, symlinked, ``..``-laden or crawl-root input, a sub-folder or a single file of the same
snapshot all map the same file to the same shard. Each file also gets a ``signature`` (size and mtime
locally, ETag and size on S3): a file that changed after its shard finished is ingested again.

Which files: a Common Crawl snapshot root with a published ``warc.paths.gz`` / ``wet.paths.gz`` is selected
from that listing, anything else is listed page by page (``tasks/ingest/listing.py``); of WARC and WET only one
format is taken, and an optional deterministic sample keeps N files or a fraction
(``InputSelection``, ``tasks/ingest/commoncrawl.py``).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from tasks.errors import ConfigurationError
from tasks.ingest.commoncrawl import (
    FileSample,
    SnapshotNotFound,
    cc_root_of,
    find_listing,
    iter_listing,
    merge_samples,
    snapshot_root,
)
from tasks.ingest.config import InputSelection
from tasks.ingest.listing import ListingStats, iter_files
from tasks.ingest.records import file_kind
from tasks.storage import join, resolve, validate_name
from tasks.storage.fs import is_local

_CC_ROOT = re.compile(r"^(.*?/crawl-data/([A-Za-z0-9._-]+))(?:/|$)")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_IGNORED_LISTED = 1000
_SUFFIX = re.compile(r"\.(warc|wet|wat|arc|jsonl|json|ndjson)(\.gz)?$", re.IGNORECASE)


class InputError(ConfigurationError):
    """An input path that cannot be ingested, with a one-line reason."""


@dataclass(frozen=True)
class InputFile:
    url: str
    kind: str  # warc | wet | jsonl
    shard: str
    signature: str = ""  # what the file looked like when listed: a changed file is ingested again


@dataclass(frozen=True)
class Discovery:
    snapshot: str
    files: list[InputFile]
    ignored: list[str]  # files of no ingestible kind (the first MAX_IGNORED_LISTED)
    root: str = ""  # the snapshot root every shard name is relative to
    listing: str = ""  # the published listing the files were selected from ("": the store was listed)
    candidates: int = 0  # ingestible files of the chosen format(s), before sampling
    other_format: int = 0  # WARC or WET files left out because the other format was chosen
    ignored_count: int = 0
    listing_pages: int = 0


def shard_name(relative: str) -> str:
    """A stable, store-safe shard name for a file path relative to the snapshot root."""
    stem = _SUFFIX.sub("", relative.strip("/"))
    kind = file_kind(relative) or "file"
    name = _UNSAFE.sub("_", stem.replace("/", "__")).strip("._-") or "shard"
    name = f"{name}.{kind}"
    if len(name) > 180:
        digest = hashlib.blake2b(relative.encode(), digest_size=6).hexdigest()
        name = f"{name[:160]}-{digest}.{kind}"
    return validate_name(name, "shard")


def normalise_input(input_url: str) -> str:
    """One spelling per location: local paths absolute with ``.``/``..`` resolved (symlinked folders are kept
    as named, so a link into a crawl layout still shows the layout); URLs with their key normalised."""
    if is_local(input_url):
        path = input_url[len("file://") :] if input_url.startswith("file://") else input_url
        return os.path.abspath(os.path.expanduser(path))
    protocol, key = input_url.split("://", 1)
    return f"{protocol}://{posixpath.normpath('/' + key).lstrip('/')}"


def _snapshot_name(root: str) -> str:
    """The snapshot a root stands for: ``<id>`` of ``crawl-data/<id>``, else the folder's name."""
    base = root.rstrip("/").rsplit("/", 1)[-1]
    return validate_name(_UNSAFE.sub("_", base).strip("._-") or "snapshot", "snapshot")


def newest_snapshot(root: str, snapshot: str | None = None) -> str:
    """``root`` itself, or, if it is a Common Crawl root (holds ``crawl-data/<id>/``), its snapshot
    ``snapshot`` when given, else its newest (ids sort chronologically: CC-MAIN-YYYY-WW)."""
    try:
        return snapshot_root(root, snapshot)
    except SnapshotNotFound as exc:
        raise InputError(str(exc)) from exc


def _signature(info: dict[str, Any]) -> str:
    etag = info.get("ETag") or info.get("etag")
    size = info.get("size")
    if etag:
        return f"etag:{str(etag).strip(chr(34))}:{size}"
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or ""
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    return f"size:{size}:mtime:{mtime}"


@dataclass
class _Candidates:
    """What a listing offers, per format, sampled as it streams by."""

    select: InputSelection
    snapshot: str
    samples: dict[str, FileSample[tuple[str, str]]] = field(default_factory=dict)  # (url, signature)
    ignored: list[str] = field(default_factory=list)
    ignored_count: int = 0

    def offer(self, url: str, relative: str, signature: str) -> None:
        kind = file_kind(url.rsplit("/", 1)[-1])
        if kind is None:
            self.ignored_count += 1
            if len(self.ignored) < MAX_IGNORED_LISTED:
                self.ignored.append(url)
            return
        if kind not in self.samples:
            s = self.select
            self.samples[kind] = FileSample(self.snapshot, s.sample_seed, s.sample_files, s.sample_fraction)
        self.samples[kind].offer(relative, (url, signature))  # named as a shard only if it is kept

    def chosen_kinds(self) -> list[str]:
        """JSONL always; of WARC and WET only one (``crawl_format``; auto: WARC when there is any)."""
        fmt = self.select.crawl_format
        crawl = fmt if fmt != "auto" else ("warc" if "warc" in self.samples else "wet")
        return [k for k in ("jsonl", crawl) if k in self.samples]


def _relative(file_url: str, root: str) -> str:
    return (
        file_url[len(root) :].strip("/") if file_url.startswith(root + "/") else file_url.rsplit("/", 1)[-1]
    )


def _from_listing(listing_url: str, root: str, found: _Candidates) -> None:
    cc_root = cc_root_of(root)
    prefix = root[len(cc_root) :].strip("/") + "/"
    for path in iter_listing(listing_url):
        if not path.startswith(prefix):
            raise InputError(f"{listing_url} lists {path}, which is not under {prefix}")
        # CC files never change once published: the listing entry is the signature (no request per file)
        found.offer(join(cc_root, path), path[len(prefix) :], f"listed:{path}")


def discover(input_url: str, snapshot: str | None = None, select: InputSelection | None = None) -> Discovery:
    """List ingestible files under ``input_url`` (a crawl root, a snapshot root, a folder or file below one,
    a flat folder or one file; local or s3://) as ``select`` selects them; raises FileNotFoundError naming a
    missing path and InputError for an input that holds no crawl files. ``snapshot`` picks the snapshot of a
    crawl root (default: the newest) and names it."""
    select = select or InputSelection()
    url = newest_snapshot(normalise_input(input_url), snapshot)
    match = _CC_ROOT.match(url)
    if match:
        root = match.group(1)
    else:
        fs, path = resolve(url)
        if not fs.exists(path):
            raise FileNotFoundError(f"input path does not exist or is not readable: {input_url}")
        root = url if fs.isdir(path) else url.rstrip("/").rsplit("/", 1)[0]
    name = snapshot or _snapshot_name(root)
    found = _Candidates(select, name)
    listing = find_listing(root, select.crawl_format) if select.use_listing and url == root else None
    stats = ListingStats()
    if listing is not None:
        _from_listing(listing[1], root, found)
    else:
        for file_url, info in iter_files(url, select.list_page_size, stats):
            found.offer(file_url, _relative(file_url, root), _signature(info))
    kinds = found.chosen_kinds()
    files = [
        InputFile(url, file_kind(url) or "", shard_name(relative), signature)
        for relative, (url, signature) in merge_samples(
            [found.samples[k] for k in kinds], select.sample_files
        )
    ]
    if not files:
        raise InputError(
            f"no crawl files (*.warc.gz, *.warc, *.wet.gz, *.jsonl.gz, *.json.gz) under {input_url}"
            + (f" (format {select.crawl_format})" if found.samples else "")
        )
    shards = [f.shard for f in files]
    if len(set(shards)) != len(shards):
        raise InputError(f"two input files map to the same shard name under {input_url}")
    return Discovery(
        name,
        files,
        found.ignored,
        root,
        listing=listing[1] if listing else "",
        candidates=sum(found.samples[k].offered for k in kinds),
        other_format=sum(s.offered for k, s in found.samples.items() if k not in kinds),
        ignored_count=found.ignored_count,
        listing_pages=stats.pages,
    )
