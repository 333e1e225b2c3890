"""Charsets on real pages (issue 11): valid UTF-8 without a declaration is UTF-8 (the sniffer alone reads
some of these pages as cp1252: mojibake), and UTF-16/32 pages with a BOM or a declared charset are decoded
instead of being quarantined as binary."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from crawlgen import warc_response
from resiliparse.parse.encoding import detect_encoding

from tasks.ingest import FilterConfig, IngestConfig, run_ingest
from tasks.ingest.charset import ExtractionError, check_textual, decode
from tasks.ingest.extract import ExtractConfig, html_to_text
from tasks.ingest.sample_snapshot import load_eval_pages, warcinfo_record

CFG = ExtractConfig()
_DECLARATION = re.compile(rb"<meta[^>]+charset[^>]*>", re.IGNORECASE)


@pytest.fixture(scope="module")
def undeclared_utf8(shared_data: Path) -> list[tuple[str, bytes]]:
    """Real trafilatura evaluation pages that are valid, non-ASCII UTF-8, with their charset declaration
    removed (as on pages that declare it late or not at all)."""
    out = []
    for page in load_eval_pages(shared_data):
        if page.html.isascii():
            continue
        try:
            page.html.decode("utf-8")
        except UnicodeDecodeError:
            continue
        out.append((page.url, _DECLARATION.sub(b"", page.html)))
    return out


def test_valid_utf8_without_a_declaration_is_read_as_utf8(undeclared_utf8: list[tuple[str, bytes]]) -> None:
    misread = [(url, html) for url, html in undeclared_utf8 if detect_encoding(html[:65536]) != "utf-8"]
    assert len(undeclared_utf8) > 500 and len(misread) >= 20  # the sniffer alone gets these wrong
    for _, html in undeclared_utf8:
        text, used = decode(html, None)
        assert used == "utf-8" and text == html.decode("utf-8-sig")
    url, html = next((u, h) for u, h in misread if "—".encode() in h)
    out = html_to_text(html, None, CFG)
    assert "â€" not in out and out == html_to_text(html, "utf-8", CFG), url


def _variants(html: str) -> dict[str, tuple[bytes, str | None]]:
    """The page in UTF-16/32: (payload, HTTP charset)."""
    return {
        "utf-16-le BOM": (codecs.BOM_UTF16_LE + html.encode("utf-16-le"), None),
        "utf-16-be BOM": (codecs.BOM_UTF16_BE + html.encode("utf-16-be"), None),
        "utf-32-le BOM": (codecs.BOM_UTF32_LE + html.encode("utf-32-le"), None),
        "utf-32-be BOM": (codecs.BOM_UTF32_BE + html.encode("utf-32-be"), None),
        "utf-16le header": (html.encode("utf-16-le"), "utf-16le"),
        "utf-16 header, big endian": (html.encode("utf-16-be"), "UTF-16"),
        "utf-32 header": (html.encode("utf-32-le"), "utf-32"),
        "utf-16 without BOM or header": (html.encode("utf-16-le"), None),
    }


def test_utf16_and_utf32_pages_are_text(undeclared_utf8: list[tuple[str, bytes]]) -> None:
    url, raw = next((u, h) for u, h in undeclared_utf8 if len(h) < 200_000)
    html = raw.decode("utf-8")
    want = html_to_text(raw, "utf-8", CFG)
    assert len(want) > 200, url
    for name, (payload, charset) in _variants(html).items():
        assert b"\x00" in payload[:1024]  # what made them "binary" before
        check_textual(payload, "text/html", charset)
        text, _ = decode(payload, charset)
        assert text.lstrip("\ufeff") == html, name
        assert html_to_text(payload, charset, CFG) == want, name


def test_a_wide_declaration_on_ascii_bytes_means_utf8() -> None:
    page = "<html><head><meta charset='utf-16'></head><body><p>Caf\u00e9 cr\u00e8me</p></body></html>"
    text, used = decode(page.encode("utf-8"), "utf-16")
    assert (text, used) == (page, "utf-8")


def test_nul_bytes_without_a_wide_charset_are_still_binary() -> None:
    blob = bytes(range(256)) * 8
    for charset in (None, "utf-8", "iso-8859-1"):
        with pytest.raises(ExtractionError) as err:
            check_textual(blob, "text/html", charset)
        assert err.value.reason == "binary_content"
    with pytest.raises(ExtractionError) as err:  # a magic number wins over a declared charset
        check_textual(b"\x89PNG\r\n\x1a\n" + blob, "text/html", "utf-16")
    assert err.value.reason == "binary_content"


def test_quarry_ingest_keeps_wide_and_undeclared_utf8_pages(
    undeclared_utf8: list[tuple[str, bytes]], tmp_path: Path
) -> None:
    raw = next(h for _, h in undeclared_utf8 if len(h) < 200_000)
    html = raw.decode("utf-8")
    misread = next(h for _, h in undeclared_utf8 if detect_encoding(h[:65536]) != "utf-8")
    records = [warcinfo_record("charsets", "CHARSETS")]
    expected: dict[str, str] = {}
    for i, (payload, charset) in enumerate(_variants(html).values()):
        page_url = f"https://charsets.example/{i}"
        records.append(
            warc_response(page_url, payload, "text/html" + (f"; charset={charset}" if charset else ""))
        )
        expected[page_url] = html_to_text(raw, "utf-8", CFG)
    records.append(warc_response("https://charsets.example/undeclared", misread, "text/html"))
    expected["https://charsets.example/undeclared"] = html_to_text(misread, "utf-8", CFG)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "charsets.warc.gz").write_bytes(b"".join(records))

    store = tmp_path / "store"
    run_ingest(
        IngestConfig(input=str(folder), store=str(store), workers=0, filters=FilterConfig(enabled=())),
        dedup=False,
    )
    docs = [r for f in (store / "documents" / "in").glob("*.parquet") for r in pq.read_table(f).to_pylist()]
    quarantine = [
        r for f in (store / "quarantine" / "in").glob("*.parquet") for r in pq.read_table(f).to_pylist()
    ]
    assert quarantine == []
    assert {d["url"]: d["text"] for d in docs} == expected
