"""Per-shard pass: a line on several pages of one site in a shard is that site's template and goes; the same
line on another site, or on too few pages, stays."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from crawlgen import article_html, readable_articles, write_warc

from tasks.ingest import IngestConfig, run_ingest
from tasks.ingest.boilerplate.site import SiteRepeatConfig, host_of, strip_site_repeats, template_lines
from tasks.ingest.extract import ExtractConfig, html_to_text

SLOGAN = "Independent reporting from the valley, every day, for everyone who lives along its river."


def _page(body: str) -> str:
    return f"Headline\n\n{body}\n\n{SLOGAN}\n\nFollow the valley desk"


def test_lines_on_enough_pages_of_one_host_go() -> None:
    pages = [
        (f"https://www.valley.example/news/{i}", _page(f"Story number {i} happened today.")) for i in range(3)
    ]
    pages.append(("https://other.example/a", _page("A story on another site.")))
    texts, removed = strip_site_repeats(pages, SiteRepeatConfig(min_pages=3))
    assert removed == 9  # headline, slogan and follow line on each of the three valley pages
    for i, text in enumerate(texts[:3]):
        assert text == f"Story number {i} happened today."
    assert texts[3] == pages[3][1]  # the same lines on one page of another host are that page's own
    assert template_lines(pages, SiteRepeatConfig(min_pages=3)) == {
        "valley.example": {"headline", SLOGAN.lower(), "follow the valley desk"}
    }


def test_without_the_pass_or_with_too_few_pages_the_template_stays() -> None:
    pages = [(f"https://valley.example/{i}", _page(f"Story {i}.")) for i in range(3)]
    off, removed_off = strip_site_repeats(pages, SiteRepeatConfig(min_pages=0))
    assert removed_off == 0 and all(SLOGAN in t for t in off)
    few, removed_few = strip_site_repeats(pages[:2], SiteRepeatConfig(min_pages=3))
    assert removed_few == 0 and all(SLOGAN in t for t in few)


def test_duplicates_count_once_and_no_page_is_emptied() -> None:
    same = _page("The very same story.")
    pages = [(f"https://valley.example/{i}", same) for i in range(5)]  # one page under five URLs
    texts, removed = strip_site_repeats(pages, SiteRepeatConfig(min_pages=3))
    assert removed == 0 and texts == [same] * 5
    pages = [(f"https://valley.example/{i}", _page(f"Story {i}.")) for i in range(3)]
    pages.append(("https://valley.example/bare", f"{SLOGAN}\nFollow the valley desk"))
    texts, _ = strip_site_repeats(pages, SiteRepeatConfig(min_pages=3))
    assert texts[3] == pages[3][1]  # nothing but template: left whole for dedup to judge


def test_long_lines_are_never_template() -> None:
    quote = "A long quoted paragraph. " * 20
    pages = [(f"https://valley.example/{i}", f"Story {i}.\n{quote}") for i in range(3)]
    texts, removed = strip_site_repeats(pages, SiteRepeatConfig(min_pages=3, max_line_chars=400))
    assert removed == 0 and all(quote in t for t in texts)


def test_host_of() -> None:
    assert host_of("https://WWW.Valley.Example:8080/x?y") == "valley.example"
    assert host_of("http://user@sub.valley.example/") == "sub.valley.example"
    assert host_of("u-123") == ""


def test_ingest_drops_a_site_template_that_the_page_rules_keep(shared_data: Path, tmp_path: Path) -> None:
    articles = readable_articles(shared_data, limit=5)
    pages = []
    for i, (title, paragraphs) in enumerate(articles[:4]):
        html = article_html(title, [*paragraphs, SLOGAN]).decode()
        pages.append((f"https://valley.example/story/{i}", html.encode()))
    title, paragraphs = articles[4]
    pages.append(("https://other.example/story", article_html(title, [*paragraphs, SLOGAN])))
    # the per-page stage keeps the slogan: it is a sentence inside the article
    assert SLOGAN in html_to_text(pages[0][1], "utf-8", ExtractConfig())
    write_warc(tmp_path / "in" / "site.warc.gz", pages)

    store = tmp_path / "store"
    result = run_ingest(IngestConfig(input=str(tmp_path / "in"), store=str(store), workers=0))
    texts = {}
    for sub in ("documents", "removed"):
        for row in pq.read_table(store / sub / "in" / "site.warc.parquet").to_pylist():
            texts[row["url"]] = row["text"]
    assert len(texts) == 5
    for i in range(4):
        text = texts[f"https://valley.example/story/{i}"]
        assert SLOGAN not in text and articles[i][1][0][:60] in text
    assert SLOGAN in texts["https://other.example/story"]
    assert result.counts["site_repeat_lines"] >= 4
