"""Test helper: real article text (WikiText-2, from ../shared/data) wrapped into WARC files by the project's
own record writer. Generated per test in a tmp folder; nothing from ../shared/data is copied into the repo."""

from __future__ import annotations

import html
import re
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
