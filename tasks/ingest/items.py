"""What a crawl-file reader yields: a record to extract text from, a record type we skip, or a bad record."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Record:
    url: str
    offset: int
    source: str  # "warc" (HTML payload), "wet" (plain text), "jsonl" (plain text)
    payload: bytes
    content_type: str | None = None
    charset: str | None = None
    fetch_time: str = ""


@dataclass(frozen=True)
class Skipped:
    offset: int
    record_type: str


@dataclass(frozen=True)
class Bad:
    """A record (or stretch of bytes) that could not be read; quarantined with its file offset and reason.
    ``skipped_bytes`` counts file bytes the reader passed over to find the next record boundary."""

    offset: int
    reason: str
    detail: str = ""
    url: str = ""
    payload_head: bytes = b""
    skipped_bytes: int = 0


Item = Record | Skipped | Bad
