"""One shard full of what the web really sends: the shard completes, every bad record is quarantined with
its file, offset and reason, and no good document is lost."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from crawlgen import article_html, gzip_bomb_record, readable_articles

from tasks.ingest import IngestConfig, run_ingest
from tasks.ingest.sample_snapshot import warc_record, warcinfo_record


def _http_record(url: str, http: bytes) -> bytes:
    head = (
        "WARC/1.1\r\nWARC-Type: response\r\nWARC-Date: 2026-01-01T00:00:00Z\r\n"
        f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-00000000000{len(url) % 10}>\r\n"
        f"WARC-Target-URI: {url}\r\nContent-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + http + b"\r\n\r\n", mtime=0)


def test_hostile_shard_completes_and_quarantines(shared_data: Path, tmp_path: Path) -> None:
    articles = readable_articles(shared_data, limit=6)
    good = [warc_record(f"https://good.example/{i}", article_html(t, p)) for i, (t, p) in enumerate(articles)]
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(1, 256)) * 64
    huge = b"<html><body>" + b"<p>spam spam spam</p>" * (50 * 1024 * 1024 // 21) + b"</body></html>"
    garbage = bytes((i * 7919) % 95 + 0x80 for i in range(20_000)).replace(b"\x00", b"")
    bad_charset = ("<html><body><p>" + "\ufffd" * 3000 + "</p></body></html>").encode("utf-8")
    corrupt = bytearray(warc_record("https://corrupt.example/", article_html(*articles[0])))
    corrupt[30:80] = b"\xff" * 50
    records = [
        warcinfo_record("hostile.warc.gz", "HOSTILE"),
        good[0],
        _http_record("https://nohttp.example/", b"this is not an HTTP response\r\n\r\nbody"),
        good[1],
        warc_record("https://binary.example/image.html", png),
        good[2],
        warc_record("https://huge.example/", huge),
        good[3],
        warc_record("https://garbage.example/", garbage),
        warc_record("https://replacement.example/", bad_charset),
        bytes(corrupt),
        good[4],
    ]
    data = b"".join(records)
    truncated_tail = good[5][: len(good[5]) // 2]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "hostile.warc.gz").write_bytes(data + truncated_tail)

    store = tmp_path / "store"
    result = run_ingest(IngestConfig(input=str(folder), store=str(store), workers=0))
    assert result.shards == 1
    shard = "hostile.warc"
    assert (store / "_markers" / "ingest" / "in" / f"{shard}.done").is_file()

    docs = pq.read_table(store / "documents" / "in" / f"{shard}.parquet").to_pylist()
    removed = pq.read_table(store / "removed" / "in" / f"{shard}.parquet").to_pylist()
    quarantine = pq.read_table(store / "quarantine" / "in" / f"{shard}.parquet").to_pylist()
    good_urls = {f"https://good.example/{i}" for i in range(5)}
    assert good_urls <= {d["url"] for d in docs} | {r["url"] for r in removed}
    assert len({d["url"] for d in docs} & good_urls) >= 4
    reasons = {(q["url"], q["reason"]) for q in quarantine}
    assert ("https://nohttp.example/", "invalid_http_headers") in reasons
    assert ("https://binary.example/image.html", "binary_content") in reasons
    assert ("https://huge.example/", "page_too_large") in reasons
    assert ("https://replacement.example/", "undecodable") in reasons
    assert any(q["reason"] == "corrupt_record" for q in quarantine)
    assert any(q["reason"] in {"truncated_gzip", "truncated_record"} for q in quarantine)
    assert all(q["file"].endswith("hostile.warc.gz") and q["offset"] >= 0 for q in quarantine)
    # The garbage page is either quarantined or removed with a reason: accounted for, never silently dropped.
    accounted = {q["url"] for q in quarantine} | {r["url"] for r in removed} | {d["url"] for d in docs}
    assert "https://garbage.example/" in accounted
    assert result.counts["quarantined"] == len(quarantine)
    offsets = [d["warc_offset"] for d in docs]
    assert offsets == sorted(offsets)


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "snapshot"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        run_ingest(IngestConfig(input=str(missing), store=str(tmp_path / "s"), workers=0))


def test_folder_without_crawl_files_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="no crawl files"):
        run_ingest(IngestConfig(input=str(tmp_path / "in"), store=str(tmp_path / "s"), workers=0))


def test_cli_reports_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tasks.cli import main

    code = main(["--store", str(tmp_path / "s"), "ingest", str(tmp_path / "absent"), "--workers", "0"])
    assert code == 2
    assert str(tmp_path / "absent") in capsys.readouterr().err


REPO = Path(__file__).resolve().parents[3]
LIMIT = 10 * 1024 * 1024
_MEASURE = """
import resource, sys
from tasks.cli import main
for args in " ".join(sys.argv[1:]).split(" --then "):
    assert main(args.split()) == 0
    print("MAXRSS_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
"""


def _ingest_peak_rss(*runs: tuple[Path, Path]) -> list[int]:
    """``quarry ingest`` of each (folder, store) in turn, in one fresh process; the process's peak RSS in
    bytes after each run (a high-water mark: a later run raises it only by what it needs beyond the earlier)."""
    argv: list[str] = []
    for folder, store in runs:
        argv += ["--then"] if argv else []
        argv += ["--store", str(store), "ingest", str(folder), "--workers", "0", "--no-dedup"]
        argv += ["--max-page-bytes", str(LIMIT)]
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [int(x.split()[1]) * 1024 for x in done.stdout.splitlines() if x.startswith("MAXRSS_KIB")]


def test_memory_is_bounded_by_the_page_limit_not_the_record(shared_data: Path, tmp_path: Path) -> None:
    """A < 3 MB .warc.gz holding one 1 GiB record (a decompression bomb of real text) and a JSONL file with
    one 50 MB line: ``quarry ingest`` stays within the page limit + 200 MB of a run (in the same process,
    just before) over the same files without them, quarantines both as ``page_too_large`` and keeps the good records after them."""
    (title, paragraphs), (title2, paragraphs2) = readable_articles(shared_data, limit=2)
    page = article_html(title, paragraphs)
    heading = f"<h2>{title2}</h2>".encode()
    unit = heading * ((1 << 20) // len(heading))  # a real heading, repeated: compresses ~400:1
    repeats = (1 << 30) // len(unit) + 1
    bomb = gzip_bomb_record("https://bomb.example/", b"<html><body>", unit, repeats, b"</body></html>")
    line = json.dumps(
        {"text": " ".join(paragraphs2) * (50 * 1024 * 1024 // len(" ".join(paragraphs2))), "url": "u-huge"}
    )
    small = json.dumps({"text": " ".join(paragraphs), "url": "u-small"})
    assert (
        len(unit) * repeats > 1 << 30 and len(line) > 50 * 1024 * 1024
    )  # read whole, either breaks the bound

    def folder(name: str, hostile: bool) -> Path:
        path = tmp_path / name
        path.mkdir()
        after = warc_record("https://after.example/", page)
        (path / "crawl.warc.gz").write_bytes(
            warcinfo_record("crawl", "T") + (bomb if hostile else b"") + after
        )
        (path / "lines.jsonl").write_text(((line + "\n") if hostile else "") + small + "\n")
        return path

    assert len(bomb) < 3 * 1024 * 1024
    base, peak = _ingest_peak_rss(
        (folder("clean", hostile=False), tmp_path / "store-clean"),
        (folder("bomb", hostile=True), tmp_path / "store-bomb"),
    )
    assert peak < base + LIMIT + 200 * 1024 * 1024, (base, peak)

    def texts(store: Path, snapshot: str) -> dict[str, str]:
        tables = [pq.read_table(f) for f in sorted((store / "documents" / snapshot).glob("*.parquet"))]
        return {d["url"]: d["text"] for t in tables for d in t.to_pylist()}

    clean = texts(tmp_path / "store-clean", "clean")
    assert set(clean) == {"https://after.example/", "u-small"}
    assert texts(tmp_path / "store-bomb", "bomb") == clean
    quarantine = [
        r
        for f in (tmp_path / "store-bomb" / "quarantine" / "bomb").glob("*.parquet")
        for r in pq.read_table(f).to_pylist()
    ]
    assert sorted((q["reason"], q["url"], q["offset"]) for q in quarantine) == [
        ("page_too_large", "", 0),
        ("page_too_large", "https://bomb.example/", len(warcinfo_record("crawl", "T"))),
    ]
