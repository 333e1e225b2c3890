"""A crawl file that cannot be opened or read (missing, no permission, a download that keeps failing) is
quarantined as a file, with its reason, after retries; the run goes on with the other files.

:func:`read_input` turns the I/O errors of reading one input file into :class:`InputUnreadable` (errors of
writing the store are not caught here: they fail the shard as before). :func:`ingest_or_quarantine` runs a
shard, retries a file that is unreadable and finally writes a quarantine record
``quarantine/<snapshot>/_files/<shard>.json`` (reason, detail, attempts). The shard is not marked done, so a
rerun tries the file again: the same record is written again (nothing is duplicated), and once the file reads
the record is removed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tasks.ingest.records import Item, read_file
from tasks.ingest.warc_stream import INFLATE_ERRORS
from tasks.storage import Store, join, remove, write_json_atomic

if TYPE_CHECKING:
    from tasks.ingest.shard import ShardSpec

log = logging.getLogger(__name__)

FILES_FOLDER = "_files"


def _read_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OSError, EOFError, *INFLATE_ERRORS]
    try:
        from botocore.exceptions import BotoCoreError, ClientError

        errors += [BotoCoreError, ClientError]
    except ImportError:  # pragma: no cover - botocore comes with s3fs
        pass
    return tuple(errors)


READ_ERRORS = _read_errors()


class InputUnreadable(Exception):
    """An input file could not be opened or read to its end; ``reason`` is a short code."""

    def __init__(self, url: str, reason: str, detail: str) -> None:
        super().__init__(f"{url}: {reason}: {detail}")
        self.url = url
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[type[InputUnreadable], tuple[str, str, str]]:  # crosses processes intact
        return (InputUnreadable, (self.url, self.reason, self.detail))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file_not_found"
    if isinstance(exc, PermissionError):
        return "permission_denied"
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return "not_a_file"
    return "read_failed"


def read_input(url: str, kind: str, max_page_bytes: int) -> Iterator[Item]:
    """The items of one crawl file; an I/O error while opening or reading it raises InputUnreadable."""
    try:
        yield from read_file(url, kind, max_page_bytes)
    except READ_ERRORS as exc:
        raise InputUnreadable(url, _reason(exc), f"{type(exc).__name__}: {exc}"[:2000]) from exc


def file_quarantine_url(store: Store, snapshot: str, shard: str) -> str:
    return join(store.path("quarantine", snapshot), FILES_FOLDER, f"{shard}.json")


def ingest_or_quarantine(spec: ShardSpec) -> dict[str, Any]:
    """``ingest_shard(spec)``, trying an unreadable file ``file_retries`` more times (backoff doubling from
    ``retry_delay_s``); a file that stays unreadable is quarantined and its stats say so (no documents)."""
    from tasks.ingest.shard import ingest_shard

    select = spec.config.select
    record_url = file_quarantine_url(Store(spec.config.store), spec.snapshot, spec.file.shard)
    last: InputUnreadable | None = None
    attempts = 0
    for attempt in range(select.file_retries + 1):
        if attempt:
            time.sleep(select.retry_delay_s * 2 ** (attempt - 1))
        attempts += 1
        try:
            stats = ingest_shard(spec)
        except InputUnreadable as exc:
            log.warning("attempt %d of %d: %s", attempts, select.file_retries + 1, exc)
            last = exc
            continue
        remove(record_url)  # the file reads now: an earlier run's quarantine record no longer holds
        return stats
    assert last is not None
    record = {
        "file": spec.file.url,
        "shard": spec.file.shard,
        "snapshot": spec.snapshot,
        "signature": spec.file.signature,
        "reason": last.reason,
        "detail": last.detail,
        "attempts": attempts,
    }
    write_json_atomic(record_url, record)
    log.error("quarantined %s after %d attempts: %s", spec.file.url, attempts, last.reason)
    return {
        "shard": spec.file.shard,
        "file": spec.file.url,
        "snapshot": spec.snapshot,
        "documents": 0,
        "tokens": 0,
        "counts": {"quarantined_files": 1, f"quarantined_file:{last.reason}": 1},
        "quarantined_file": record,
    }
