"""A WARC/WET reader that trusts no length and never holds more than the page limit.

Records are read from *segments*: one gzip member at a time (Common Crawl writes one record per member), or
the whole of a plain ``.warc``. A record is accepted only if its block ends where ``Content-Length`` says and
is followed by blank lines and then the next ``WARC/`` header or the end of the segment. Otherwise the record
is quarantined as ``content_length_mismatch`` and the reader resynchronises on the next record boundary: the
next ``WARC/1.x`` line after the lying record's header inside the segment (this finds a next record that a
too-long length swallowed), else the next gzip member. Bytes between members that are not gzip are skipped,
quarantined as ``stray_bytes`` and counted. So a lying record costs itself only, and no record carries
another record's bytes.

Bodies are read in a stream: a body larger than ``max_page_bytes`` is quarantined as ``page_too_large`` from
its first 4 KiB and never held. In a file of one record per member the reader then jumps to the next member
found in the compressed bytes (a 1 GiB decompression bomb costs milliseconds); otherwise (plain files, one
member for the whole file) the body is streamed past chunk by chunk. Memory stays bounded by the page limit.

Known limit: a plain-file length that is too long by exactly a whole number of following records still ends
at a valid boundary and is accepted with those records inside it; per-record gzip files cannot have this.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from tasks.ingest.items import Bad, Item, Record, Skipped
from tasks.ingest.warc_stream import GZIP_MAGIC, INFLATE_ERRORS, WARC_MAGIC, Buffered, GzipMember, RawFile

MAX_WARC_HEADER = 64 * 1024
MAX_HTTP_HEADER = 64 * 1024
HEAD = 4096
# What a record boundary is resynchronised on: a WARC/1.0 or 1.1 version line, wherever it starts (stray
# bytes need not end with a newline).
RESYNC = (b"WARC/1.0\r\n", b"WARC/1.1\r\n")
_WANTED = frozenset({"response", "conversion", "resource"})
_STATUS = re.compile(rb"HTTP/\d(?:\.\d)?[ \t]+([1-9]\d\d)\b")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)


class _Segment:
    """Where records are read from; :meth:`reopen` restarts the stream at a position inside the segment."""

    compressed = False
    stream: Buffered
    records = 0  # WARC headers read in this segment
    abandoned = False

    def jump_to_next(self) -> bool:
        """Leave the rest of the segment unread if the next one can be found in the raw bytes."""
        return False

    def offset_of(self, pos: int) -> int:
        raise NotImplementedError

    def reopen(self, pos: int) -> None:
        raise NotImplementedError

    def truncated(self) -> bool:
        return False


class _PlainFile(_Segment):
    def __init__(self, raw: RawFile) -> None:
        self.raw = raw
        self.stream = Buffered(raw.read, raw.pos)

    def offset_of(self, pos: int) -> int:
        return pos

    def reopen(self, pos: int) -> None:
        self.raw.seek(pos)
        self.stream = Buffered(self.raw.read, pos)


class _Member(_Segment):
    compressed = True

    def __init__(self, raw: RawFile, one_record_each: bool) -> None:
        self.raw = raw
        self.start = raw.pos
        self.member = GzipMember(raw)
        self.stream = Buffered(self.member.more)
        self.one_record_each = one_record_each  # every member so far held one record

    def jump_to_next(self) -> bool:
        """In the Common Crawl layout (every member so far held one record) the rest of this member is the
        current record: find the next member in the compressed bytes instead of inflating it. If there is
        none (one member for the whole file), carry on inflating from where we were."""
        if not (self.one_record_each and self.records == 1):
            return False
        here = self.raw.pos
        if _next_member(self.raw) is None:
            self.raw.seek(here)
            return False
        self.abandoned = True
        return True

    def offset_of(self, pos: int) -> int:
        return self.start  # a position inside a member is not addressable; the member is

    def reopen(self, pos: int) -> None:
        self.raw.seek(self.start)
        self.member = GzipMember(self.raw)
        self.stream = Buffered(self.member.more)
        self.stream.skip(pos)

    def truncated(self) -> bool:
        return self.member.truncated


def read_warc(fh: IO[bytes], max_page_bytes: int, gzip_name: bool = False) -> Iterator[Item]:
    """The items of a WARC or WET file (plain, or gzip: per record or whole-file). A file named ``.gz`` that
    starts with neither gzip nor a WARC header is read as gzip members after stray bytes."""
    raw = RawFile(fh)
    head = raw.peek(len(WARC_MAGIC))
    if head.startswith(GZIP_MAGIC) or (gzip_name and head != WARC_MAGIC):
        yield from _read_members(raw, max_page_bytes)
    else:
        yield from _records(_PlainFile(raw), max_page_bytes)


def _read_members(raw: RawFile, limit: int) -> Iterator[Item]:
    one_record_each = True
    while True:
        start = raw.pos
        magic = raw.peek(3)
        if not magic:
            return
        if magic != GZIP_MAGIC:
            head = raw.peek(256)
            found = _next_member(raw)
            skipped = raw.pos - start
            where = "between gzip members" if found is not None else "at the end of the file"
            yield Bad(
                start, "stray_bytes", f"{skipped} bytes {where}", payload_head=head, skipped_bytes=skipped
            )
            if found is None:
                return
            continue
        segment = _Member(raw, one_record_each)
        try:
            yield from _records(segment, limit)
        except INFLATE_ERRORS as exc:
            raw.seek(start + 1)
            found = _next_member(raw)
            skipped = raw.pos - start
            yield Bad(start, "corrupt_record", f"gzip error: {exc}", skipped_bytes=skipped)
            if found is None:
                return
            continue
        if segment.truncated() and not segment.abandoned:
            return
        one_record_each = one_record_each and segment.records <= 1


def _next_member(raw: RawFile) -> int | None:
    """Advance to the next gzip member that inflates to a WARC header; None (at the end) if there is none."""
    while True:
        pos = raw.find(GZIP_MAGIC)
        if pos is None:
            return None
        try:
            first = Buffered(GzipMember(raw).more).peek(len(WARC_MAGIC))
        except INFLATE_ERRORS:
            first = b""
        if first == WARC_MAGIC:
            raw.seek(pos)
            return pos
        raw.seek(pos + 1)


def _records(seg: _Segment, limit: int) -> Iterator[Item]:
    """The records of one segment, each checked against the segment's bytes."""
    while True:
        s = seg.stream
        s.skip_blank_lines()
        if s.at_end():
            if seg.truncated():
                yield Bad(seg.offset_of(s.pos), "truncated_gzip", "file ends inside a gzip member")
            return
        start = s.pos
        offset = seg.offset_of(start)
        if s.peek(len(WARC_MAGIC)) != WARC_MAGIC:
            head = s.peek(256)
            found = s.find_any(RESYNC)
            skipped = s.pos - start
            yield Bad(offset, "stray_bytes", f"{skipped} bytes that are not a WARC record", "", head, skipped)
            if not found:
                return
            continue
        header = s.read_until(b"\r\n\r\n", MAX_WARC_HEADER)
        if header is None:
            if seg.truncated() or s.at_end():
                reason = "truncated_gzip" if seg.compressed else "truncated_record"
                yield Bad(offset, reason, "file ends inside a WARC header", payload_head=s.peek(HEAD))
                return
            s.skip(len(WARC_MAGIC))
            s.find_any(RESYNC)
            yield Bad(offset, "corrupt_record", "WARC header without an end", skipped_bytes=s.pos - start)
            continue
        header_end = s.pos
        fields = _fields(header)
        url = fields.get("warc-target-uri", "")
        length = _content_length(fields.get("content-length"))
        if length is None:
            detail = f"Content-Length {fields.get('content-length')!r} is not a number"
            yield Bad(offset, "content_length_mismatch", detail, url)
            _resync(seg, header_end)
            continue
        seg.records += 1
        item = _block(s, length, fields, limit, offset)
        if isinstance(item, Bad) and item.reason == "page_too_large":
            if seg.jump_to_next():  # a decompression bomb is not inflated past the page limit
                yield item
                return
            s.skip(length - (s.pos - header_end))
        consumed = s.pos - header_end
        if consumed < length:  # the segment ended inside the block
            head = (
                item.payload[:HEAD]
                if isinstance(item, Record)
                else item.payload_head
                if isinstance(item, Bad)
                else b""
            )
            if seg.truncated():
                yield Bad(
                    offset,
                    "truncated_gzip",
                    f"file ends inside a gzip member ({consumed} of {length} bytes)",
                    url,
                    head,
                )
                return
            if not _resync(seg, header_end) and not seg.compressed:
                yield Bad(offset, "truncated_record", f"{consumed} of {length} bytes", url, head)
                return
            detail = f"Content-Length {length} but the record ends after {consumed} bytes"
            yield Bad(offset, "content_length_mismatch", detail, url, head[:256])
            continue
        if not _record_ends(seg):
            detail = f"Content-Length {length} is not followed by the end of the record"
            yield Bad(offset, "content_length_mismatch", detail, url, s.peek(256))
            _resync(seg, header_end)
            continue
        if seg.truncated():
            yield Bad(offset, "truncated_gzip", "file ends inside a gzip member", url)
            return
        yield item


def _record_ends(seg: _Segment) -> bool:
    """After a block: blank lines, then the next header or the end of the segment. In a plain file the exact
    CRLF CRLF trailer also ends a record, and what follows it that is not a header is stray bytes (read as
    such by the caller); in a gzip member anything else after the block means the length lied."""
    s = seg.stream
    if not seg.compressed and s.peek(4) == b"\r\n\r\n":
        s.skip(4)
        return True
    s.skip_blank_lines()
    return s.at_end() or s.peek(len(WARC_MAGIC)) == WARC_MAGIC


def _resync(seg: _Segment, header_end: int) -> bool:
    """Restart after a lying record's header at the next ``WARC/1.x`` line of the segment; False if none."""
    seg.reopen(header_end)
    return seg.stream.find_any(RESYNC)


def _fields(header: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    last = ""
    for line in header.decode("utf-8", "replace").split("\r\n")[1:]:
        if not line:
            continue
        if line[0] in " \t" and last:  # folded continuation line
            fields[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep:
            last = name.strip().lower()
            fields[last] = value.strip()
    return fields


def _content_length(value: str | None) -> int | None:
    if value is None or not value.isascii() or not value.isdigit():
        return None
    return int(value)


def _block(s: Buffered, length: int, fields: dict[str, str], limit: int, offset: int) -> Item:
    """Read (or skip) the record's block, as far as the segment has it, and make it an item. A body over the
    limit is left unread (the item is ``page_too_large``): the caller skips it or leaves the member."""
    rtype = fields.get("warc-type", "").lower()
    url = fields.get("warc-target-uri", "")
    date = fields.get("warc-date", "")
    if rtype not in _WANTED:
        s.skip(length)
        return Skipped(offset, rtype or "unknown")
    if url.startswith(("dns:", "whois:")):  # Heritrix DNS/WHOIS lookups: normal crawl bookkeeping
        s.skip(length)
        return Skipped(offset, url.split(":", 1)[0])
    warc_type = fields.get("content-type", "")
    content_type: str | None = warc_type or None
    charset: str | None = None
    body_length = length
    if rtype == "response":
        if not warc_type.lower().startswith("application/http"):
            s.skip(length)
            return Bad(offset, "no_http_headers", "response record without a parseable HTTP header", url)
        cap = min(length, MAX_HTTP_HEADER)
        s.fill(cap)
        end = _http_header_end(s.buf, cap)
        match = _STATUS.match(bytes(s.buf[:64]))
        if end is None or not match:
            head = s.peek(HEAD)
            s.skip(length)
            why = "no HTTP status line" if not match else "no end of the HTTP header"
            return Bad(offset, "invalid_http_headers", why, url, head)
        http_header = s.read(end).decode("latin-1")
        content_type, charset = _http_content_type(http_header)
        body_length = length - len(http_header)
        source = "warc"
    else:
        source = "wet" if rtype == "conversion" or "text/plain" in warc_type else "warc"
    if body_length > limit:  # the caller skips the body (or abandons the gzip member)
        return Bad(offset, "page_too_large", f"{body_length} bytes > {limit}", url, s.peek(HEAD))
    body = s.read(body_length)
    return Record(url, offset, source, body, content_type, charset, date)


def _http_header_end(buf: bytearray, cap: int) -> int | None:
    """End of the HTTP header (CRLF CRLF, or the bare LF LF some servers send) within ``cap`` bytes."""
    crlf = buf.find(b"\r\n\r\n", 0, cap)
    lf = buf.find(b"\n\n", 0, cap if crlf == -1 else crlf)
    if lf != -1:
        return lf + 2
    return None if crlf == -1 else crlf + 4


def _http_content_type(http_header: str) -> tuple[str | None, str | None]:
    for line in http_header.split("\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() == "content-type":
            mime = value.split(";", 1)[0].strip().lower() or None
            found = _CHARSET.search(value)
            return mime, (found.group(1).lower() if found else None)
    return None, None
