"""Test helper: real article text (WikiText-2, from ../shared/data) wrapped into WARC files by the project's
own record writer. Generated per test in a tmp folder; nothing from ../shared/data is copied into the repo."""

from __future__ import annotations

import gzip
import html
import re
import struct
import uuid
import zlib
from pathlib import Path

from tasks.ingest.sample_snapshot import warc_record, warcinfo_record

_HEADING = re.compile(r"^ = ([^=].*[^=]) = $", re.MULTILINE)


def wikitext_articles(shared_data: Path, limit: int = 50) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) of the first ``limit`` WikiText-2 validation articles."""
    raw = (shared_data / "eval" / "wikitext-2" / "wiki.valid.txt").read_text(encoding="utf-8")
    parts = _HEADING.split(raw)
    out = []
    for title, body in zip(parts[1::2], parts[2::2], strict=False):
        paras = [
            p.strip()
            .replace(" @-@ ", "-")
            .replace(" @,@ ", ",")
            .replace(" @.@ ", ".")
            .replace(" , ", ", ")
            .replace(" . ", ". ")
            for p in body.split("\n")
            if p.strip() and not p.strip().startswith("=")
        ]
        if sum(len(p.split()) for p in paras) > 120:
            out.append((title.strip(), paras))
        if len(out) >= limit:
            break
    return out


def article_html(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return (
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        f"<nav><a href='/'>Home</a> | <a href='/about'>About</a></nav>"
        f"<article><h1>{html.escape(title)}</h1>{body}</article>"
        f"<footer>Copyright example.org</footer></body></html>"
    ).encode()


def write_warc(path: Path, pages: list[tuple[str, bytes]], snapshot: str = "TEST") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = warcinfo_record(path.name, snapshot)
    for url, payload in pages:
        data += warc_record(url, payload)
    path.write_bytes(data)
    return path


def write_cc_snapshot(
    root: Path, snapshot: str, articles: list[tuple[str, list[str]]], files: int, host: str = "example.org"
) -> Path:
    """Spread the articles over ``files`` WARC files in the Common Crawl layout; returns the snapshot folder."""
    snap = root / "crawl-data" / snapshot
    for f in range(files):
        chunk = articles[f::files]
        pages = [
            (f"https://{host}/wiki/{re.sub(r'[^A-Za-z0-9]+', '_', t)}", article_html(t, p)) for t, p in chunk
        ]
        write_warc(
            snap / "segments" / f"1700000000.{f}" / "warc" / f"{snapshot}-{f:05d}.warc.gz", pages, snapshot
        )
    return snap


# Broken crawl files (issue 11): real records, corrupted the way real crawls are -----------------------------


def gzip_members(path: Path) -> list[bytes]:
    """The raw gzip members of a per-record-gzipped WARC (one record each, as Common Crawl writes them)."""
    data = path.read_bytes()
    members = []
    pos = 0
    while pos < len(data):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        inflater.decompress(data[pos:])
        end = len(data) - len(inflater.unused_data)
        members.append(data[pos:end])
        pos = end
    return members


def warc_header(record: bytes) -> dict[str, str]:
    """The WARC header fields of an uncompressed record (names lower-cased)."""
    head = record.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head)}


def set_content_length(record: bytes, value: str) -> bytes:
    """An uncompressed WARC record whose ``Content-Length`` header says ``value`` (its block unchanged)."""
    head, sep, rest = record.partition(b"\r\n\r\n")
    head, n = re.subn(rb"(?im)^Content-Length:[^\r\n]*", b"Content-Length: " + value.encode(), head, count=1)
    assert n == 1, "record without a Content-Length"
    return head + sep + rest


def gzip_bomb_record(url: str, prefix: bytes, unit: bytes, repeats: int, suffix: bytes) -> bytes:
    """One gzip member holding a WARC response whose HTML body is ``prefix + unit * repeats + suffix``, built
    without materialising the body: after a full flush deflate forgets its window, so every flushed ``unit``
    compresses to the same bytes and can be repeated in the compressed stream."""
    body_length = len(prefix) + len(unit) * repeats + len(suffix)
    http = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {body_length}\r\n\r\n".encode()
    head = (
        "WARC/1.1\r\nWARC-Type: response\r\nWARC-Date: 2026-01-01T00:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-0000000000bb>\r\nWARC-Target-URI: {url}\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http) + body_length}\r\n\r\n"
    ).encode()
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = deflate.compress(head + http + prefix) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(unit) + deflate.flush(zlib.Z_FULL_FLUSH)
    again = deflate.compress(unit) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert block == again, "a flushed unit must compress to the same bytes every time"
    end = deflate.compress(suffix + b"\r\n\r\n") + deflate.flush()
    crc = zlib.crc32(head + http + prefix)
    for _ in range(repeats):
        crc = zlib.crc32(unit, crc)
    crc = zlib.crc32(suffix + b"\r\n\r\n", crc)
    size = len(head) + len(http) + body_length + 4
    gzip_head = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return gzip_head + start + block * repeats + end + struct.pack("<II", crc, size & 0xFFFFFFFF)


def warc_response(url: str, payload: bytes, content_type: str) -> bytes:
    """One gzip-member WARC response record whose HTTP ``Content-Type`` header is ``content_type``."""
    http = (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
    )
    head = (
        "WARC/1.1\r\nWARC-Type: response\r\nWARC-Date: 2026-01-01T00:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, url)}>\r\nWARC-Target-URI: {url}\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http) + len(payload)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + http + payload + b"\r\n\r\n", mtime=0)


def readable_articles(shared_data: Path, limit: int = 50) -> list[tuple[str, list[str]]]:
    """WikiText-2 articles without the ``<unk>`` placeholders of rare words: text that the Gopher alpha-word
    rule (datatrove's tokenisation splits ``<unk>`` into three tokens) keeps, for tests whose good documents
    must survive the default filters."""
    out = []
    for title, paragraphs in wikitext_articles(shared_data, limit):
        cleaned = [re.sub(r"\s*<unk>", "", p).strip() for p in paragraphs]
        out.append((title.replace("<unk>", "").strip() or "Article", [p for p in cleaned if p]))
    return out
