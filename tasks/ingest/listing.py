"""Stream the files under a local folder or an S3 prefix, one listing page at a time.

A Common Crawl snapshot has ~90k WARC files (and as many WET and WAT): listing such a prefix in one call
holds every key in memory. Here an S3 prefix is listed with ``ListObjectsV2`` pages of ``page_size`` keys,
each handed on before the next is fetched, and a local folder is walked directory by directory. Names that
start with a dot below the listed folder (temporary files, dot-folders) are never listed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tasks.storage import resolve
from tasks.storage.fs import is_local


@dataclass
class ListingStats:
    pages: int = 0  # listing calls made (S3 pages; local: directories read)
    files: int = 0


def _hidden(below: str) -> bool:
    return any(part.startswith(".") for part in below.split("/") if part)


def iter_files(
    url: str, page_size: int = 1000, stats: ListingStats | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file URL, info)`` for every visible file under ``url`` (or ``url`` itself when it is a file); info
    has ``size`` and ``mtime`` (local) or ``ETag`` and ``size`` (S3). Raises FileNotFoundError naming ``url``
    when nothing is there."""
    stats = stats if stats is not None else ListingStats()
    if is_local(url):
        found = _iter_local(url, stats)
    elif url.split("://", 1)[0] in ("s3", "s3a"):
        found = _iter_s3(url, page_size, stats)
    else:
        found = _iter_fsspec(url, stats)
    for item in found:
        stats.files += 1
        yield item
    if not stats.files and not (
        is_local(url) and os.path.isdir(_local(url))
    ):  # an empty folder is no error here
        raise FileNotFoundError(f"input path does not exist or is not readable: {url}")


def _local(url: str) -> str:
    return url[len("file://") :] if url.startswith("file://") else url


def _iter_local(url: str, stats: ListingStats) -> Iterator[tuple[str, dict[str, Any]]]:
    path = _local(url)
    if os.path.isfile(path):
        st = os.stat(path)
        yield path, {"type": "file", "size": st.st_size, "mtime": st.st_mtime}
        return
    base = path.rstrip("/") or "/"
    for directory, dirs, files in os.walk(base, followlinks=True):
        stats.pages += 1
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            full = os.path.join(directory, name)
            try:
                st = os.stat(full)
            except OSError:  # a dangling link: listed, so that reading it is quarantined with its reason
                yield full, {"type": "file", "size": -1, "mtime": ""}
                continue
            yield full, {"type": "file", "size": st.st_size, "mtime": st.st_mtime}


def _iter_s3(url: str, page_size: int, stats: ListingStats) -> Iterator[tuple[str, dict[str, Any]]]:
    from tasks.publish.s3store import s3_client

    protocol, rest = url.split("://", 1)
    bucket, _, prefix = rest.partition("/")
    client = s3_client()
    if prefix and not prefix.endswith("/"):
        try:
            head = client.head_object(Bucket=bucket, Key=prefix)
        except Exception as exc:  # 404 (a prefix, not an object) or 403: list below it
            if getattr(exc, "response", {}).get("Error", {}).get("Code") not in ("404", "NoSuchKey", "403"):
                raise
        else:
            yield url, {"type": "file", "ETag": head.get("ETag", ""), "size": head.get("ContentLength")}
            return
        prefix += "/"
    paginator = client.get_paginator("list_objects_v2")
    pages = paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size})
    for page in pages:
        stats.pages += 1
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith("/") or _hidden(key[len(prefix) :]):
                continue
            yield (
                f"{protocol}://{bucket}/{key}",
                {"type": "file", "ETag": obj.get("ETag", ""), "size": obj["Size"]},
            )


def _iter_fsspec(url: str, stats: ListingStats) -> Iterator[tuple[str, dict[str, Any]]]:
    """Other fsspec protocols: one ``find`` call (no paged listing there)."""
    fs, path = resolve(url)
    if not fs.exists(path):
        return
    found = {path: fs.info(path)} if fs.isfile(path) else fs.find(path, detail=True)
    stats.pages += 1
    base = path.rstrip("/")
    protocol = url.split("://", 1)[0]
    for p, info in sorted(found.items()):
        if info.get("type", "file") == "file" and not _hidden(p[len(base) :]):
            yield f"{protocol}://{p}", info
