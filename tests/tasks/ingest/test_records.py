"""The crawl-file reader on real captures and on broken files the tests write themselves."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

from tasks.ingest.records import Bad, Record, Skipped, read_file
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
