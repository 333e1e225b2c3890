"""Reading crawl files into records, robustly.

A crawl file yields :class:`Record` (something to extract text from), :class:`Skipped` (a record type we do
not ingest: request, metadata, revisit, warcinfo, ...) and :class:`Bad` (a record that could not be read:
corrupt gzip member, truncated body, broken JSON line). A bad record never ends the file: the reader
re-synchronises on the next gzip member (or the next ``WARC/`` header in an uncompressed file) and carries on.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from fastwarc.warc import ArchiveIterator, WarcRecordType

from tasks.storage import open_input

GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_MAGIC = b"WARC/"


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
    offset: int
    reason: str
    detail: str = ""
    url: str = ""
    payload_head: bytes = b""


Item = Record | Skipped | Bad


def file_kind(name: str) -> str | None:
    """``warc``, ``wet``, ``jsonl`` or None (not a format we ingest, e.g. WAT metadata)."""
    lower = name.lower()
    if lower.endswith((".wat.gz", ".wat")):
        return None
    if lower.endswith((".wet.gz", ".wet")):
        return "wet"
    if lower.endswith((".warc.gz", ".warc", ".arc.gz")):
        return "warc"
    if lower.endswith((".jsonl.gz", ".json.gz", ".jsonl", ".ndjson.gz")):
        return "jsonl"
    return None


def read_file(url: str, kind: str) -> Iterator[Item]:
    if kind == "jsonl":
        yield from _read_jsonl(url)
    else:
        with open_input(url) as fh:
            yield from _read_warc(fh, wet=(kind == "wet"))


# WARC / WET ---------------------------------------------------------------------------------------

_WANTED = WarcRecordType.response | WarcRecordType.conversion | WarcRecordType.resource


def _read_warc(fh: IO[bytes], wet: bool) -> Iterator[Item]:
    head = fh.read(3)
    fh.seek(0)
    compressed = head == GZIP_MAGIC
    magic = GZIP_MAGIC if compressed else WARC_MAGIC
    start = 0
    while True:
        last_good: int | None = None
        failed: Exception | None = None
        held: Item | None = None  # the newest record waits until we know its gzip member is complete
        try:
            fh.seek(start)
            for rec in ArchiveIterator(
                fh, parse_http=not wet, max_content_length=None, min_content_length=None
            ):
                if held is not None:
                    yield held
                last_good = rec.stream_pos
                held = _convert(rec, wet)
        except (OSError, ValueError) as exc:
            failed = exc
        if failed is None:
            if compressed and last_good is not None:
                tail = _truncated_member(fh, last_good)
                if tail:
                    url = held.url if isinstance(held, Record | Bad) else ""
                    held = Bad(last_good, "truncated_gzip", tail, url)
            if held is not None:
                yield held
            return
        if held is not None:
            yield held
        # The record after the last good one is broken: quarantine it and resume at the next member.
        bad_at = _next_magic(fh, (last_good + 1) if last_good is not None else start, magic)
        if bad_at is None:
            yield Bad(start if last_good is None else last_good + 1, "corrupt_record", str(failed))
            return
        yield Bad(bad_at, "corrupt_record", f"{type(failed).__name__}: {failed}")
        resume = _next_magic(fh, bad_at + 1, magic)
        if resume is None:
            return
        start = resume


def _next_magic(fh: IO[bytes], pos: int, magic: bytes, chunk: int = 1 << 20) -> int | None:
    fh.seek(pos)
    carry = b""
    base = pos
    while True:
        block = fh.read(chunk)
        if not block:
            return None
        data = carry + block
        idx = data.find(magic)
        while idx != -1:
            # For plain WARC, a header must start a line.
            if (
                magic == GZIP_MAGIC
                or (idx == 0 and base - len(carry) == 0)
                or (idx > 0 and data[idx - 1 : idx] == b"\n")
            ):
                return base - len(carry) + idx
            idx = data.find(magic, idx + 1)
        carry = data[-(len(magic) - 1) :]
        base += len(block)


def _truncated_member(fh: IO[bytes], pos: int) -> str:
    """Check that the gzip member at ``pos`` (the last one read) is complete; return a reason if not."""
    fh.seek(pos)
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    while not decomp.eof:
        block = fh.read(1 << 20)
        if not block:
            return "file ends inside a gzip member"
        try:
            decomp.decompress(block)
        except zlib.error as exc:
            return f"gzip error: {exc}"
    return ""


def _convert(rec: object, wet: bool) -> Item:
    from fastwarc.warc import WarcRecord

    assert isinstance(rec, WarcRecord)
    rtype = rec.record_type
    offset = int(rec.stream_pos)
    headers = rec.headers
    url = headers.get("WARC-Target-URI") or ""
    if not rtype & _WANTED:
        return Skipped(offset, str(rtype))
    if url.startswith(("dns:", "whois:")):  # Heritrix DNS/WHOIS lookups: normal crawl bookkeeping
        return Skipped(offset, url.split(":", 1)[0])
    if rtype == WarcRecordType.response and not rec.is_http:
        return Bad(offset, "no_http_headers", "response record without a parseable HTTP header", url)
    body = rec.reader.read()
    if len(body) < rec.content_length:
        return Bad(offset, "truncated_record", f"{len(body)} of {rec.content_length} bytes", url, body[:4096])
    date = headers.get("WARC-Date") or ""
    if rtype == WarcRecordType.response:
        if rec.http_headers is not None and rec.http_headers.status_code in (None, 0):
            return Bad(offset, "invalid_http_headers", "no HTTP status line", url, body[:4096])
        return Record(url, offset, "warc", body, rec.http_content_type, rec.http_charset, date)
    content_type = headers.get("Content-Type") or ""
    source = "wet" if rtype == WarcRecordType.conversion or "text/plain" in content_type else "warc"
    return Record(url, offset, source, body, content_type or None, None, date)


# JSONL --------------------------------------------------------------------------------------------


def _read_jsonl(url: str) -> Iterator[Item]:
    with open_input(url) as raw:
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if url.endswith(".gz") else raw  # type: ignore[assignment]
        offset = 0
        try:
            for line in stream:
                here = offset
                offset += len(line)
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except ValueError as exc:
                    yield Bad(here, "invalid_json", str(exc), payload_head=line[:4096])
                    continue
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    yield Bad(
                        here, "no_text_field", "JSON object without a string 'text'", payload_head=line[:4096]
                    )
                    continue
                meta: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
                page = obj.get("url") or meta.get("url") or obj.get("id") or ""
                when = obj.get("timestamp") or obj.get("created") or meta.get("timestamp") or ""
                yield Record(
                    str(page),
                    here,
                    "jsonl",
                    obj["text"].encode("utf-8", "surrogatepass"),
                    None,
                    "utf-8",
                    str(when),
                )
        except (OSError, EOFError, zlib.error) as exc:
            yield Bad(offset, "truncated_gzip", f"{type(exc).__name__}: {exc}")
