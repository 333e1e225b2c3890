"""A tiny object-store interface with the two primitives publication needs: create-if-absent and
compare-and-swap. Two backends with the same semantics:

* :class:`S3ObjectStore` (boto3, in :mod:`tasks.publish.s3store`): ``PutObject`` with ``If-None-Match: *``
  (create only if absent) and ``If-Match: <etag>`` (replace only if unchanged). A 412 means "someone else got
  there first".
* :class:`LocalObjectStore` (a local directory, the embedded default): create-if-absent is ``link(2)`` of a
  fully written temporary file onto the final name, which fails with ``EEXIST`` exactly like ``O_EXCL`` but
  never exposes a partially written file; compare-and-swap holds an ``flock`` on a lock file while it compares
  the current content's digest and ``os.replace``-s the new content in.

Keys are always relative to the configured prefix and are built by this package only; every key segment is
checked with :func:`tasks.storage.validate_name`, so nothing can be written outside the prefix.
Credentials are never passed in code: boto3 reads them from its usual chain (environment, profile, IRSA).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

from tasks.storage import validate_name

log = logging.getLogger(__name__)


class ObjectStoreError(RuntimeError):
    """An object store could not do what was asked (not a lost race: those return False)."""


class ObjectNotFound(ObjectStoreError, FileNotFoundError):
    pass


class ConditionalWritesUnsupported(ObjectStoreError):
    """The S3 endpoint accepted a write that its precondition should have refused."""


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str
    metadata: dict[str, str] = field(default_factory=dict)


def check_key(key: str) -> str:
    """A relative key made of validated segments (no '..', no '/' at either end, no empty segment)."""
    if not key or key.startswith("/") or key.endswith("/"):
        raise ValueError(f"invalid object key {key!r}")
    for segment in key.split("/"):
        validate_name(segment, "key segment")
    return key


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class ObjectStore(ABC):
    """Objects under one prefix. ``url`` is the prefix as a URL (``s3://bucket/prefix`` or a local path)."""

    url: str

    def url_for(self, key: str) -> str:
        return f"{self.url.rstrip('/')}/{check_key(key)}"

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def get_with_etag(self, key: str) -> tuple[bytes, str] | None:
        """Content and a version tag usable with :meth:`compare_and_swap`, or None if absent."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None: ...

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Unconditional, atomic (readers see the old object, nothing, or the whole new one)."""

    @abstractmethod
    def put_file(self, key: str, path: str, sha256: str) -> None:
        """Upload a local file atomically, recording its sha256 as object metadata."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` with ``data`` only if it does not exist. False if it already existed."""

    @abstractmethod
    def compare_and_swap(self, key: str, data: bytes, expected_etag: str | None) -> bool:
        """Replace ``key`` only if its current tag is ``expected_etag`` (None: only if absent)."""

    @abstractmethod
    def list_children(self, key_prefix: str) -> list[str]:
        """Names of the immediate "directories" under ``key_prefix``."""

    @abstractmethod
    def list_keys(self, key_prefix: str) -> list[str]:
        """Every object key under ``key_prefix`` (recursively), sorted; the backend's own temporary and
        lock files are not objects."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def remove_empty_prefix(self, key_prefix: str) -> None:
        """Drop ``key_prefix`` as a "directory" if nothing is under it any more (SeaweedFS and MinIO keep
        empty folders listed as common prefixes; a local directory stays until removed). A prefix that
        still holds objects is left alone."""

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def check_conditional_writes(self, scratch_prefix: str) -> None:
        """Fail loudly on a backend that silently ignores preconditions (checked once per store)."""
        return None


# --------------------------------------------------------------------------------------------- local
class LocalObjectStore(ObjectStore):
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.url = self.root

    def _path(self, key: str) -> str:
        path = os.path.join(self.root, *check_key(key).split("/"))
        if os.path.commonpath([self.root, os.path.abspath(path)]) != self.root:  # defence in depth
            raise ValueError(f"key {key!r} escapes {self.root}")
        return path

    def _tmp_beside(self, path: str) -> str:
        directory = os.path.dirname(path)
        os.makedirs(directory, exist_ok=True)
        return os.path.join(directory, f".tmp-{uuid.uuid4().hex}")

    @staticmethod
    def _write_synced(path: str, data: bytes) -> None:
        try:
            fh = open(path, "wb")  # noqa: SIM115 - closed below
        except FileNotFoundError:  # a clean-up removed the (then empty) directory in between: make it again
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fh = open(path, "wb")  # noqa: SIM115
        with fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def get(self, key: str) -> bytes:
        try:
            with open(self._path(key), "rb") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError):  # a file where a "directory" of the key should be
            raise ObjectNotFound(self.url_for(key)) from None

    def get_with_etag(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self.get(key)
        except ObjectNotFound:
            return None
        return data, sha256_hex(data)

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            size = os.path.getsize(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return ObjectInfo(size=size, etag="")

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = self._tmp_beside(path)
        try:
            self._write_synced(tmp, data)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def put_file(self, key: str, path: str, sha256: str) -> None:
        dest = self._path(key)
        tmp = self._tmp_beside(dest)
        try:
            shutil.copyfile(path, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            if sha256_file(tmp) != sha256:
                raise ObjectStoreError(f"copy of {path} to {dest} does not match its sha256")
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        tmp = self._tmp_beside(path)
        try:
            self._write_synced(tmp, data)
            try:
                os.link(tmp, path)  # atomic, exclusive: EEXIST like O_CREAT|O_EXCL
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                return self._put_if_absent_excl(path, data)  # filesystems without hard links
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _put_if_absent_excl(self, path: str, data: bytes) -> bool:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    @contextlib.contextmanager
    def _locked(self, path: str) -> Iterator[None]:
        lock = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.lock")
        os.makedirs(os.path.dirname(lock), exist_ok=True)
        with open(lock, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def compare_and_swap(self, key: str, data: bytes, expected_etag: str | None) -> bool:
        path = self._path(key)
        with self._locked(path):
            current = self.get_with_etag(key)
            current_etag = current[1] if current else None
            if current_etag != expected_etag:
                return False
            self.put(key, data)
            return True

    def list_children(self, key_prefix: str) -> list[str]:
        path = self._path(key_prefix)
        try:
            names = os.listdir(path)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in names if os.path.isdir(os.path.join(path, n)) and not n.startswith("."))

    def list_keys(self, key_prefix: str) -> list[str]:
        base = self._path(key_prefix)
        keys: list[str] = []
        for directory, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            rel = os.path.relpath(directory, self.root).replace(os.sep, "/")
            keys.extend(f"{rel}/{f}" for f in files if not f.startswith("."))
        return sorted(keys)

    def remove_empty_prefix(self, key_prefix: str) -> None:
        with contextlib.suppress(FileNotFoundError, OSError):
            os.rmdir(self._path(key_prefix))  # refuses (ENOTEMPTY) while anything is inside

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        directory = os.path.dirname(path)
        while directory != self.root and os.path.commonpath([self.root, directory]) == self.root:
            try:
                os.rmdir(directory)  # only empty "directories" go, like prefixes on S3
            except OSError:
                break
            directory = os.path.dirname(directory)


def open_store(url: str) -> ObjectStore:
    """An object store for ``s3://bucket[/prefix]``, ``file:///dir`` or a local directory path."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("a target URL is required (s3://bucket/prefix or a local directory)")
    url = url.strip()
    if url.startswith(("s3://", "s3a://")):
        rest = url.split("://", 1)[1]
        bucket, _, prefix = rest.partition("/")
        if "@" in bucket or ":" in bucket:
            raise ValueError("put no credentials or ports in an s3:// URL; use the environment")
        return S3ObjectStore(bucket, prefix)
    if url.startswith("file://"):
        url = url[len("file://") :]
    elif "://" in url:
        raise ValueError(f"unsupported URL scheme in {url!r} (use s3:// or a local path)")
    return LocalObjectStore(url)


# S3 lives in its own module, built on the base above; re-exported here for callers of this module.
from tasks.publish.s3store import S3ObjectStore, s3_client  # noqa: E402

__all__ = [
    "ConditionalWritesUnsupported",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreError",
    "S3ObjectStore",
    "check_key",
    "open_store",
    "s3_client",
    "sha256_file",
    "sha256_hex",
]
