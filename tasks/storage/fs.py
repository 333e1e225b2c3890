"""fsspec helpers: one place that knows how to reach a URL and how to write it atomically.

Local paths are written to a temporary name in the same directory and renamed (``os.replace``), so a reader
sees either nothing or the whole file. On S3 a single PUT (or a completed multipart upload) is atomic by
construction: the object is invisible until the upload completes.

Temporary files are hidden (``.tmp-<host>-<pid>-<random>-<name>``): every lister skips names that start with a
dot, so a temp left by a killed writer never counts as work and never reaches a reader. Because the name
carries the writer's host and pid, :func:`remove_stale_temps` can tell a dead writer's leftovers from a live
writer's file in progress and removes only the former.

Failpoints for crash tests: ``QUARRY_FAILPOINT=kill-before-rename:<suffix>[:<n>]`` kills the process with
SIGKILL after the n-th (default first) temp file whose name ends with ``<suffix>`` is fully written and before
it is renamed into place — the worst moment for a crash.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import time
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
    """All files under ``url`` whose name ends with one of ``suffixes``, sorted; [] if it does not exist.
    Hidden names (temporary files, dot-files, anything inside a dot-folder below ``url``) are never listed."""
    fs, path = resolve(url)
    if not fs.exists(path):
        return []
    if fs.isfile(path):
        return [url]
    found = fs.find(path) if recursive else [p for p in fs.ls(path, detail=False) if fs.isfile(p)]
    base = path.rstrip("/")
    names = [
        p
        for p in found
        if any(p.endswith(s) for s in suffixes)
        and not any(part.startswith(".") for part in p[len(base) :].strip("/").split("/"))
    ]
    return sorted(_unstrip(url, fs, p) for p in names)


def list_dirs(url: str) -> list[str]:
    """Names of the visible sub-folders of ``url`` (not dot-folders), sorted; [] if it does not exist."""
    fs, path = resolve(url)
    if not fs.exists(path):
        return []
    names = (p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False) if fs.isdir(p))
    return sorted(n for n in names if not n.startswith("."))


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


TEMP_PREFIX = ".tmp-"
FAILPOINT_ENV = "QUARRY_FAILPOINT"
STALE_FOREIGN_TEMP_SECONDS = 6 * 3600
_failpoint_hits: dict[str, int] = {}


def _host_tag() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def temp_name(final_name: str) -> str:
    """A hidden temporary name for ``final_name`` that records who writes it."""
    return f"{TEMP_PREFIX}{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:12]}-{final_name}"


def _writer_alive(name: str) -> bool | None:
    """Whether the writer of temp file ``name`` is still running: None when it cannot be told here (another
    host, or a name of another form)."""
    parts = name[len(TEMP_PREFIX) :].split("-", 3)
    if len(parts) < 4 or parts[0] != _host_tag() or not parts[1].isdigit():
        return None
    return pid_alive(int(parts[1]))


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (another user's live process counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(url: str) -> int:
    """Remove temporary files under the local folder ``url`` left by writers that are no longer running
    (on this host), or older than ``STALE_FOREIGN_TEMP_SECONDS`` when the writer cannot be checked. A live
    writer's temp is never touched. Object stores write atomically and have none. Returns how many."""
    if not is_local(url):
        return 0
    root = url[len("file://") :] if url.startswith("file://") else url
    removed = 0
    now = time.time()
    for directory, _dirs, files in os.walk(root):
        for name in files:
            if not name.startswith(TEMP_PREFIX):
                continue
            path = os.path.join(directory, name)
            alive = _writer_alive(name)
            try:
                if alive is False or (
                    alive is None and now - os.path.getmtime(path) > STALE_FOREIGN_TEMP_SECONDS
                ):
                    os.unlink(path)
                    removed += 1
            except FileNotFoundError:
                continue
    return removed


def _maybe_fail(tmp_name: str) -> None:
    """Crash-test hook: SIGKILL this process at a chosen write boundary (see the module docstring)."""
    spec = os.environ.get(FAILPOINT_ENV, "")
    if not spec.startswith("kill-before-rename:"):
        return
    _, suffix, *rest = spec.split(":")
    if not tmp_name.endswith(suffix):
        return
    _failpoint_hits[suffix] = _failpoint_hits.get(suffix, 0) + 1
    if _failpoint_hits[suffix] >= (int(rest[0]) if rest else 1):
        os.kill(os.getpid(), signal.SIGKILL)


def write_bytes_atomic(url: str, data: bytes) -> None:
    """Write ``data`` to ``url`` so that no reader ever sees a partial file."""
    fs, path = resolve(url)
    if is_local(url):
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, temp_name(os.path.basename(path)))
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            _maybe_fail(tmp)
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
