"""The crawl-file reader on real captures and on broken files the tests write themselves."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest
from crawlgen import article_html, wikitext_articles

from tasks.ingest.records import Bad, Item, Record, Skipped, read_file
from tasks.ingest.sample_snapshot import warc_record, warcinfo_record


def _raw_record(block: bytes, url: str = "http://example.org/raw") -> bytes:
    head = (
        "WARC/1.1\r\nWARC-Type: response\r\nWARC-Date: 2026-01-01T00:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000001>\r\nWARC-Target-URI: {url}\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + block + b"\r\n\r\n", mtime=0)


def _pages(n: int) -> list[bytes]:
    return [
        warc_record(f"http://example.org/{i}", f"<html><body><p>page {i}</p></body></html>".encode())
        for i in range(n)
    ]


def test_real_common_crawl_warc_types_are_counted(shared_data: Path) -> None:
    path = shared_data / "crawl/commoncrawl/resiliparse/CC-MAIN-2020-34_sample.warc.gz"
    items = list(read_file(str(path), "warc"))
    kinds = Counter(type(i).__name__ for i in items)
    skipped = Counter(i.record_type for i in items if isinstance(i, Skipped))
    assert kinds["Record"] == 16 and kinds["Bad"] == 0
    assert skipped == {"request": 17, "metadata": 16, "warcinfo": 1}
    offsets = [i.offset for i in items]
    assert offsets == sorted(offsets) and offsets[0] == 0


def test_real_wet_records_are_plain_text(shared_data: Path) -> None:
    path = shared_data / "crawl/commoncrawl/whirlwind/whirlwind.warc.wet.gz"
    records = [i for i in read_file(str(path), "wet") if isinstance(i, Record)]
    assert len(records) == 1
    assert records[0].source == "wet" and records[0].url.startswith("https://an.wikipedia.org/")


def test_truncated_gzip_keeps_earlier_records(tmp_path: Path) -> None:
    pages = _pages(3)
    data = b"".join(pages)
    cut = len(data) - len(pages[-1]) // 2
    path = tmp_path / "t.warc.gz"
    path.write_bytes(data[:cut])
    items = list(read_file(str(path), "warc"))
    good = [i for i in items if isinstance(i, Record)]
    bad = [i for i in items if isinstance(i, Bad)]
    assert [r.url for r in good] == ["http://example.org/0", "http://example.org/1"]
    assert len(bad) == 1 and bad[0].reason in {"truncated_record", "truncated_gzip"}
    assert bad[0].offset == len(pages[0]) + len(pages[1])


def test_corrupt_member_in_the_middle_is_skipped_and_reading_resumes(tmp_path: Path) -> None:
    pages = _pages(4)
    broken = bytearray(pages[1])
    broken[20:60] = b"\x00" * 40  # destroy the deflate stream of record 1
    path = tmp_path / "c.warc.gz"
    path.write_bytes(pages[0] + bytes(broken) + pages[2] + pages[3])
    items = list(read_file(str(path), "warc"))
    good = [i.url for i in items if isinstance(i, Record)]
    bad = [i for i in items if isinstance(i, Bad)]
    assert good == ["http://example.org/0", "http://example.org/2", "http://example.org/3"]
    assert len(bad) == 1 and bad[0].reason == "corrupt_record" and bad[0].offset == len(pages[0])


def test_response_without_http_headers_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "h.warc.gz"
    path.write_bytes(
        warcinfo_record("h", "T") + _raw_record(b"no status line here\r\n\r\nbody") + _pages(1)[0]
    )
    items = list(read_file(str(path), "warc"))
    bad = [i for i in items if isinstance(i, Bad)]
    assert [b.reason for b in bad] == ["invalid_http_headers"]
    assert [i.url for i in items if isinstance(i, Record)] == ["http://example.org/0"]


def test_jsonl_bad_lines_are_reported_not_fatal(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "first document", "url": "u1"}),
        "{not json",
        json.dumps({"no_text": 1}),
        json.dumps({"text": "second document", "metadata": {"url": "u2"}}),
    ]
    path = tmp_path / "d.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    items = list(read_file(str(path), "jsonl"))
    assert [i.url for i in items if isinstance(i, Record)] == ["u1", "u2"]
    assert [i.reason for i in items if isinstance(i, Bad)] == ["invalid_json", "no_text_field"]


def test_real_jsonl_documents(shared_data: Path) -> None:
    path = shared_data / "crawl/cc-derived-jsonl/olmo/c4-sample.01.json.gz"
    records = [i for i in read_file(str(path), "jsonl") if isinstance(i, Record)]
    assert records and all(r.payload for r in records)


def _peak_bytes(path: Path, kind: str, limit: int) -> tuple[list[Item], int]:
    """The items of a file and the peak of Python allocations while reading it."""
    tracemalloc.start()
    try:
        items = list(read_file(str(path), kind, max_page_bytes=limit))
        return items, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_huge_jsonl_line_is_quarantined_without_materialising_it(shared_data: Path, tmp_path: Path) -> None:
    (_, paragraphs), (_, more) = wikitext_articles(shared_data, limit=2)
    text = " ".join(paragraphs)
    small = json.dumps({"text": text, "url": "u1"})
    huge = json.dumps({"text": " ".join(more) * (50 * 1024 * 1024 // len(" ".join(more))), "url": "huge"})
    path = tmp_path / "lines.jsonl"
    path.write_text(f"{small}\n{huge}\n\n{small.replace('u1', 'u2')}\n")
    limit = 1 << 20
    items, peak = _peak_bytes(path, "jsonl", limit)
    assert len(huge) > 50 * 1024 * 1024  # materialised, the line alone is 50 times the bound below
    assert peak < 2 * limit + 4 * 1024 * 1024
    assert [(type(i).__name__, i.offset) for i in items] == [
        ("Record", 0),
        ("Bad", len(small) + 1),
        ("Record", len(small) + len(huge) + 3),
    ]
    bad = items[1]
    assert (
        isinstance(bad, Bad) and bad.reason == "page_too_large" and bad.payload_head == huge.encode()[:4096]
    )
    assert [i.payload for i in items if isinstance(i, Record)] == [text.encode()] * 2


@pytest.mark.parametrize("layout", ["plain", "one_gzip_member"])
def test_oversized_record_is_skipped_in_bounded_memory(
    shared_data: Path, tmp_path: Path, layout: str
) -> None:
    """A 64 MB page in a plain .warc, and in a whole-file gzip (no next member to jump to): streamed past."""
    (title, paragraphs), (title2, _) = wikitext_articles(shared_data, limit=2)
    big = (
        b"<html><body>" + f"<h2>{title2}</h2>".encode() * (64 * 1024 * 1024 // (len(title2) + 9)) + b"</body>"
    )
    pages = [("http://example.org/big", big), ("http://example.org/after", article_html(title, paragraphs))]
    plain = b"".join(gzip.decompress(warc_record(url, page)) for url, page in pages)
    path = tmp_path / ("big.warc" if layout == "plain" else "big.warc.gz")
    path.write_bytes(plain if layout == "plain" else gzip.compress(plain, compresslevel=1, mtime=0))
    del big, plain
    limit = 1 << 20
    items, peak = _peak_bytes(path, "warc", limit)
    assert peak < limit + 4 * 1024 * 1024
    assert [(type(i).__name__, i.url) for i in items] == [
        ("Bad", "http://example.org/big"),
        ("Record", "http://example.org/after"),
    ]
    assert isinstance(items[0], Bad) and items[0].reason == "page_too_large"
    assert isinstance(items[1], Record) and items[1].payload == pages[1][1]
