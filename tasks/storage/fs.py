"""fsspec helpers: one place that knows how to reach a URL and how to write it atomically.

Local paths are written to a temporary name in the same directory and renamed (``os.replace``), so a reader
sees either nothing or the whole file. On S3 a single PUT (or a completed multipart upload) is atomic by
construction: the object is invisible until the upload completes.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from typing import IO, Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem


def storage_options(protocol: str) -> dict[str, Any]:
    """Options for a protocol, from the environment only (credentials are never passed in code)."""
    if protocol in ("s3", "s3a"):
        endpoint = os.environ.get("QUARRY_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
        opts: dict[str, Any] = {}
        if endpoint:
            opts["client_kwargs"] = {"endpoint_url": endpoint}
            opts["config_kwargs"] = {"s3": {"addressing_style": "path"}}
        return opts
    return {}


def resolve(url: str) -> tuple[AbstractFileSystem, str]:
    """Return the filesystem and the path inside it for ``url`` (a local path or a fsspec URL)."""
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    fs, path = fsspec.core.url_to_fs(url, **storage_options(protocol))
    return fs, path


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def join(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for part in parts:
        part = part.strip("/")
        if part:
            out = f"{out}/{part}"
    return out


def exists(url: str) -> bool:
    fs, path = resolve(url)
    return bool(fs.exists(path))


def _unstrip(url: str, fs: AbstractFileSystem, path: str) -> str:
    """Turn a path returned by ``fs`` back into a URL of the same form as ``url``."""
    if is_local(url):
        return path
    protocol = url.split("://", 1)[0]
    return f"{protocol}://{path}"


def list_files(url: str, suffixes: tuple[str, ...] = ("",), recursive: bool = True) -> list[str]:
    """All files under ``url`` whose name ends with one of ``suffixes``, sorted; [] if it does not exist."""
    fs, path = resolve(url)
    if not fs.exists(path):
        return []
    if fs.isfile(path):
        return [url]
    found = fs.find(path) if recursive else [p for p in fs.ls(path, detail=False) if fs.isfile(p)]
    names = [p for p in found if any(p.endswith(s) for s in suffixes)]
    return sorted(_unstrip(url, fs, p) for p in names)


def open_input(url: str) -> IO[bytes]:
    fs, path = resolve(url)
    return fs.open(path, "rb")  # type: ignore[no-any-return]


def read_bytes(url: str) -> bytes:
    fs, path = resolve(url)
    return fs.cat_file(path)  # type: ignore[no-any-return]


def read_json(url: str) -> Any:
    return json.loads(read_bytes(url))


def remove(url: str, recursive: bool = False) -> None:
    fs, path = resolve(url)
    if fs.exists(path):
        fs.rm(path, recursive=recursive)


def write_bytes_atomic(url: str, data: bytes) -> None:
    """Write ``data`` to ``url`` so that no reader ever sees a partial file."""
    fs, path = resolve(url)
    if is_local(url):
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".tmp-{uuid.uuid4().hex}-{os.path.basename(path)}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        fs.pipe_file(path, data)


def write_json_atomic(url: str, obj: Any) -> None:
    write_bytes_atomic(url, json.dumps(obj, indent=2, sort_keys=True, default=str).encode() + b"\n")


def write_parquet_atomic(url: str, table: pa.Table, compression: str = "zstd") -> None:
    """Serialise ``table`` deterministically (same rows → same bytes) and write it atomically."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=compression, write_statistics=True, store_schema=True)
    write_bytes_atomic(url, sink.getvalue())


def read_parquet(url: str, columns: list[str] | None = None) -> pa.Table:
    fs, path = resolve(url)
    with fs.open(path, "rb") as fh:
        return pq.read_table(fh, columns=columns)
