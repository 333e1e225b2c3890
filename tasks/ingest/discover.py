"""Find the crawl files of a snapshot and name their shards.

A crawl file is one shard whatever the spelling of the input: the shard is named after the file's path
relative to the **snapshot root** (``…/crawl-data/<id>/`` in the Common Crawl layout, else the folder given),
so a relative, absolute, symlinked, ``..``-laden or crawl-root input, a sub-folder or a single file of the same
snapshot all map the same file to the same shard. Each file also gets a ``signature`` (size and mtime
locally, ETag and size on S3): a file that changed after its shard finished is ingested again.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from tasks.errors import ConfigurationError
from tasks.ingest.records import file_kind
from tasks.storage import join, list_dirs, resolve, validate_name
from tasks.storage.fs import is_local

_CC_ROOT = re.compile(r"^(.*?/crawl-data/([A-Za-z0-9._-]+))(?:/|$)")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
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
    ignored: list[str]
    root: str = ""  # the snapshot root every shard name is relative to


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


def newest_snapshot(root: str) -> str:
    """``root`` itself, or, if it is a Common Crawl root (holds ``crawl-data/<id>/``), its newest snapshot
    (ids sort chronologically: CC-MAIN-YYYY-WW)."""
    fs, path = resolve(join(root, "crawl-data"))
    if not fs.exists(path):
        return root
    ids = list_dirs(join(root, "crawl-data"))
    if not ids:
        raise InputError(f"no snapshots under {join(root, 'crawl-data')}")
    return join(root, "crawl-data", ids[-1])


def _signature(info: dict[str, Any]) -> str:
    etag = info.get("ETag") or info.get("etag")
    size = info.get("size")
    if etag:
        return f"etag:{str(etag).strip(chr(34))}:{size}"
    mtime = info.get("mtime") or info.get("LastModified") or info.get("last_modified") or ""
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    return f"size:{size}:mtime:{mtime}"


def _listing(url: str) -> dict[str, dict[str, Any]]:
    """Every visible file under ``url`` (or ``url`` itself) with its fsspec info, keyed by URL."""
    fs, path = resolve(url)
    if not fs.exists(path):
        raise FileNotFoundError(f"input path does not exist or is not readable: {url}")
    found = {path: fs.info(path)} if fs.isfile(path) else fs.find(path, detail=True)
    out: dict[str, dict[str, Any]] = {}
    base = path.rstrip("/")
    for p, info in found.items():
        if info.get("type", "file") != "file":
            continue
        below = p[len(base) :].strip("/")
        if any(part.startswith(".") for part in below.split("/") if part):
            continue  # temp and dot-files are never input
        out[p if is_local(url) else f"{url.split('://', 1)[0]}://{p}"] = info
    return out


def discover(input_url: str, snapshot: str | None = None) -> Discovery:
    """List ingestible files under ``input_url`` (a crawl root, a snapshot root, a folder or file below one,
    a flat folder or one file; local or s3://); raises FileNotFoundError naming a missing path and
    InputError for an input that holds no crawl files."""
    url = newest_snapshot(normalise_input(input_url))
    match = _CC_ROOT.match(url)
    if match:
        root = match.group(1)
    else:
        fs, path = resolve(url)
        if not fs.exists(path):
            raise FileNotFoundError(f"input path does not exist or is not readable: {input_url}")
        root = url if fs.isdir(path) else url.rstrip("/").rsplit("/", 1)[0]
    listing = _listing(url)
    files: list[InputFile] = []
    ignored: list[str] = []
    for file_url in sorted(listing):
        name = file_url.rsplit("/", 1)[-1]
        kind = file_kind(name)
        if kind is None:
            ignored.append(file_url)
            continue
        relative = file_url[len(root) :].strip("/") if file_url.startswith(root + "/") else name
        files.append(InputFile(file_url, kind, shard_name(relative), _signature(listing[file_url])))
    if not files:
        raise InputError(
            f"no crawl files (*.warc.gz, *.warc, *.wet.gz, *.jsonl.gz, *.json.gz) under {input_url}"
        )
    shards = [f.shard for f in files]
    if len(set(shards)) != len(shards):
        raise InputError(f"two input files map to the same shard name under {input_url}")
    return Discovery(snapshot or _snapshot_name(root), files, ignored, root)
