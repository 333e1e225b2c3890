"""Reading crawl files into records, robustly and in bounded memory.

A crawl file yields :class:`Record` (something to extract text from), :class:`Skipped` (a record type we do
not ingest: request, metadata, revisit, warcinfo, ...) and :class:`Bad` (a record that could not be read:
corrupt gzip member, truncated body, a length that lies, stray bytes, a page over the size limit, a broken
JSON line). A bad record never ends the file and never costs a good record (see :mod:`warc_reader`).
Nothing is materialised beyond ``max_page_bytes`` (JSONL lines: twice that, for JSON escapes and metadata).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from typing import IO, Any

from tasks.ingest.items import Bad, Item, Record, Skipped
from tasks.ingest.warc_reader import read_warc
from tasks.storage import open_input

__all__ = ["Bad", "Item", "Record", "Skipped", "file_kind", "read_file"]

DEFAULT_MAX_PAGE_BYTES = 10 * 1024 * 1024
_CHUNK = 1 << 20
_HEAD = 4096


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


def read_file(url: str, kind: str, max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES) -> Iterator[Item]:
    if kind == "jsonl":
        yield from _read_jsonl(url, max_page_bytes)
    else:
        with open_input(url) as fh:
            yield from read_warc(fh, max_page_bytes, url.lower().endswith(".gz"))  # WET: WARC too


# JSONL --------------------------------------------------------------------------------------------


def _read_jsonl(url: str, max_page_bytes: int) -> Iterator[Item]:
    with open_input(url) as raw:
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if url.endswith(".gz") else raw  # type: ignore[assignment]
        lines = _Lines(stream, 2 * max_page_bytes)
        try:
            for here, line, length in lines:
                if line is None:
                    yield Bad(
                        here,
                        "page_too_large",
                        f"JSON line of {length} bytes > {2 * max_page_bytes}",
                        payload_head=lines.head,
                    )
                    continue
                yield _json_item(here, line, max_page_bytes)
        except (OSError, EOFError, zlib.error) as exc:
            yield Bad(lines.offset, "truncated_gzip", f"{type(exc).__name__}: {exc}")


class _Lines:
    """Lines of a stream read in chunks: (offset, line, length), ``line`` None when longer than ``max_line``
    (then only its first bytes are kept, in ``head``). Blank lines are left out."""

    def __init__(self, stream: IO[bytes], max_line: int) -> None:
        self.stream = stream
        self.max_line = max_line
        self.offset = 0  # where the current line starts
        self.head = b""

    def __iter__(self) -> Iterator[tuple[int, bytes | None, int]]:
        pending = bytearray()
        length = 0
        too_long = False
        while True:
            block = self.stream.read(_CHUNK)
            start = 0
            while True:
                nl = block.find(b"\n", start) if block else -1
                end = len(block) if nl == -1 else nl + 1
                piece = block[start:end]
                length += len(piece)
                if not too_long:
                    pending += piece
                    if len(pending) > self.max_line:
                        too_long = True
                        self.head = bytes(pending[:_HEAD])
                        pending = bytearray()
                if nl == -1 and block:
                    break
                if length and (too_long or pending.strip()):
                    yield self.offset, (None if too_long else bytes(pending)), length
                self.offset += length
                pending, length, too_long = bytearray(), 0, False
                if not block:
                    return
                start = end


def _json_item(here: int, line: bytes, max_page_bytes: int) -> Item:
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return Bad(here, "invalid_json", str(exc), payload_head=line[:_HEAD])
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return Bad(here, "no_text_field", "JSON object without a string 'text'", payload_head=line[:_HEAD])
    meta: dict[str, Any] = obj["metadata"] if isinstance(obj.get("metadata"), dict) else {}
    page = str(obj.get("url") or meta.get("url") or obj.get("id") or "")
    when = obj.get("timestamp") or obj.get("created") or meta.get("timestamp") or ""
    text = obj["text"].encode("utf-8", "surrogatepass")
    if len(text) > max_page_bytes:
        return Bad(here, "page_too_large", f"{len(text)} bytes > {max_page_bytes}", page, text[:_HEAD])
    return Record(page, here, "jsonl", text, None, "utf-8", str(when))
