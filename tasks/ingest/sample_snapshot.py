"""Build a Common-Crawl-layout sample snapshot from real pages: the trafilatura evaluation set.

``../shared/data/crawl/html-trafilatura-eval/trafilatura-eval-pages.tar.xz`` holds ~900 real pages and
``evaldata.json`` (URL → file, must/must-not snippets). Each page becomes a WARC ``response`` record (its own
gzip member, as in Common Crawl) with its original URL, under
``<out>/crawl-data/<snapshot>/segments/<segment>/warc/<snapshot>-<segment>-<n>.warc.gz``.
The output is deterministic: the same input gives byte-identical files.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.storage import join, validate_name, write_bytes_atomic, write_json_atomic

TARBALL = Path("crawl/html-trafilatura-eval/trafilatura-eval-pages.tar.xz")
DEFAULT_SNAPSHOT = "QUARRY-SAMPLE-2026-47"
_DATE = "2026-11-16T00:00:00Z"


@dataclass(frozen=True)
class EvalPage:
    url: str
    file: str
    html: bytes
    must: tuple[str, ...]
    must_not: tuple[str, ...]


def load_eval_pages(shared_data: Path) -> list[EvalPage]:
    """The trafilatura pages that are present in the tarball, with their snippets, in URL order."""
    tarball = shared_data / TARBALL
    if not tarball.is_file():
        raise FileNotFoundError(f"trafilatura evaluation pages not found: {tarball}")
    pages: dict[str, bytes] = {}
    meta: dict[str, dict[str, Any]] = {}
    with tarfile.open(tarball, "r:xz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            name = member.name.rsplit("/", 1)[-1]
            if name == "evaldata.json":
                meta = json.loads(fh.read())
            elif name.endswith(".html"):
                pages[name] = fh.read()
    out = []
    for raw_url in sorted(meta):
        info = meta[raw_url]
        file = str(info.get("file", ""))
        if file in pages:
            out.append(
                EvalPage(
                    # 9 URLs in evaldata.json end with a space; WARC headers cannot carry it.
                    raw_url.strip(),
                    file,
                    pages[file],
                    tuple(str(x) for x in info.get("with") or []),
                    tuple(str(x) for x in info.get("without") or []),
                )
            )
    return out


def warc_record(url: str, html: bytes, date: str = _DATE) -> bytes:
    """One gzip-member WARC/1.1 response record (HTTP 200, text/html, no declared charset)."""
    http = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
        + f"Content-Length: {len(html)}\r\n\r\n".encode()
        + html
    )
    record_id = uuid.uuid5(uuid.NAMESPACE_URL, url)
    head = (
        "WARC/1.1\r\nWARC-Type: response\r\n"
        f"WARC-Date: {date}\r\nWARC-Record-ID: <urn:uuid:{record_id}>\r\n"
        f"WARC-Target-URI: {url}\r\nContent-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + http + b"\r\n\r\n", mtime=0)


def warcinfo_record(filename: str, snapshot: str) -> bytes:
    body = f"isPartOf: {snapshot}\r\nsoftware: quarry sample-snapshot\r\n".encode()
    head = (
        "WARC/1.1\r\nWARC-Type: warcinfo\r\n"
        f"WARC-Date: {_DATE}\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, filename)}>\r\n"
        f"WARC-Filename: {filename}\r\nContent-Type: application/warc-fields\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + body + b"\r\n\r\n", mtime=0)


def make_sample_snapshot(
    shared_data: Path, out: str, snapshot: str = DEFAULT_SNAPSHOT, pages_per_file: int = 100, repeat: int = 1
) -> list[str]:
    """Write the snapshot under ``out`` and return the WARC file URLs. ``repeat`` > 1 writes the pages that many
    times (with distinct URLs) for benchmarks. Also writes ``evaldata.json`` beside ``crawl-data``."""
    validate_name(snapshot, "snapshot")
    pages = load_eval_pages(shared_data)
    records: list[tuple[str, bytes]] = []
    for r in range(repeat):
        for page in pages:
            url = page.url if r == 0 else f"{page.url}{'&' if '?' in page.url else '?'}quarry-copy={r}"
            records.append((url, page.html))
    files: list[str] = []
    for index, start in enumerate(range(0, len(records), pages_per_file)):
        segment = f"{1700000000000 + index // 10}.{index // 10}"
        name = f"{snapshot}-{index:05d}.warc.gz"
        url = join(out, "crawl-data", snapshot, "segments", segment, "warc", name)
        buf = io.BytesIO()
        buf.write(warcinfo_record(name, snapshot))
        for page_url, html in records[start : start + pages_per_file]:
            buf.write(warc_record(page_url, html))
        write_bytes_atomic(url, buf.getvalue())
        files.append(url)
    write_json_atomic(
        join(out, "evaldata.json"),
        {p.url: {"file": p.file, "with": list(p.must), "without": list(p.must_not)} for p in pages},
    )
    return files
