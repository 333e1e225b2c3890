"""Find the crawl files of a snapshot and name their shards."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from tasks.ingest.records import file_kind
from tasks.storage import exists, join, list_files, validate_name

_CC_SNAPSHOT = re.compile(r"crawl-data/([A-Za-z0-9._-]+)/")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SUFFIX = re.compile(r"\.(warc|wet|wat|arc|jsonl|json|ndjson)(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class InputFile:
    url: str
    kind: str  # warc | wet | jsonl
    shard: str


@dataclass(frozen=True)
class Discovery:
    snapshot: str
    files: list[InputFile]
    ignored: list[str]


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


def infer_snapshot(input_url: str) -> str:
    match = _CC_SNAPSHOT.search(input_url.rstrip("/") + "/")
    if match:
        return match.group(1)
    base = input_url.rstrip("/").rsplit("/", 1)[-1]
    base = _SUFFIX.sub("", base)
    return validate_name(_UNSAFE.sub("_", base).strip("._-") or "snapshot", "snapshot")


def newest_snapshot(root: str) -> str:
    """``root`` itself, or, if it is a Common Crawl root (holds ``crawl-data/<id>/``), its newest snapshot
    (ids sort chronologically: CC-MAIN-YYYY-WW)."""
    from tasks.storage import resolve

    fs, path = resolve(join(root, "crawl-data"))
    if not fs.exists(path):
        return root
    ids = sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False) if fs.isdir(p))
    if not ids:
        raise ValueError(f"no snapshots under {root}/crawl-data")
    return join(root, "crawl-data", ids[-1])


def discover(input_url: str, snapshot: str | None = None) -> Discovery:
    """List ingestible files under ``input_url``; raises FileNotFoundError naming a missing path."""
    if not exists(input_url):
        raise FileNotFoundError(f"input path does not exist or is not readable: {input_url}")
    found = list_files(input_url)
    root = input_url.rstrip("/")
    files: list[InputFile] = []
    ignored: list[str] = []
    for url in found:
        name = url.rsplit("/", 1)[-1]
        if name.startswith("."):
            continue
        kind = file_kind(name)
        if kind is None:
            ignored.append(url)
            continue
        relative = url[len(root) :] if url.startswith(root) and url != root else name
        files.append(InputFile(url, kind, shard_name(relative or name)))
    if not files:
        raise ValueError(
            f"no crawl files (*.warc.gz, *.warc, *.wet.gz, *.jsonl.gz, *.json.gz) under {input_url}"
        )
    shards = [f.shard for f in files]
    if len(set(shards)) != len(shards):
        raise ValueError(f"two input files map to the same shard name under {input_url}")
    return Discovery(snapshot or infer_snapshot(input_url), files, ignored)
