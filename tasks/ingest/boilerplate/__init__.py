"""Precision stage after Resiliparse: drops the boilerplate lines its main-content heuristics keep.

Resiliparse (``main_content=True``) already removes navigation, headers, footers, sidebars and comment sections
by tag, ARIA role and class name. What it keeps and this stage removes, block by block (one block = one line
of its ``minimal_html`` output, so each block knows whether it is a heading and how much of it is link text):

* **link-heavy blocks**: a non-heading block whose text is mostly link text (``max_link_density``): "read
  also" teasers, tag lists, breadcrumbs, category and login lines; a block that reads as a sentence may link
  more of its words (``prose_max_link_density``: news paragraphs do). Listing pages (most of the page's text
  is linked headlines) are detected and keep their headlines.
* **chrome phrases** (:data:`CHROME`, :data:`WEAK_CHROME`, matched on lower-cased text): cookie and consent
  notices, newsletter and subscription boxes, donation appeals, share prompts, copyright lines, photo credits,
  "posted in / tags" lines, sources, author boxes, app and magazine promotion, reader-feedback prompts,
  pagination and file-download labels, server error lines, gallery counters ("Image 2 of 5"), news credit
  lines ("contributed to this report"), browser notices, markup shown as text, and (chosen on WCXB's dev
  pages, :mod:`tasks.ingest.snippet_benchmark`) ad-slot labels, reading times, loading stubs, "was this
  helpful" polls, sign-in walls, breadcrumbs, newsletter confirmations, form consent lines, in the languages of
  the evaluation set (en, de, fr, es, it, pl, pt, nl); only blocks shorter than ``max_chrome_chars``
  (``max_weak_chrome_chars`` for the weak ones) are matched, so an article that mentions cookies stays.
  Cookie-consent, affiliate and form-consent notices (:data:`NOTICE`) run longer and are matched up to
  ``max_notice_chars``.
* **date-only and separator-only lines**.
* **the tail after an end-of-article marker** (:data:`END_MARKER`): a short heading-like block such as
  "Related articles", "Lesen Sie auch", "Über den Autor", "Kommentare", "12 Comments" after the first 40 % of
  the text ends the article; it and everything after it are dropped. "Popular", "Recommended" and "Trending"
  end it only alone or before a word such as "posts" or "for you": "Popular dishes include:" opens a section.
* **edges**: short non-sentence lines before the first and after the last prose paragraph (list items and
  table rows excepted), and a leading ``<h1>`` title; **late ``<h1>``s** (an ``<h1>`` after the article's
  first paragraph titles another item: a teaser or a listing entry).
* **a trailing box**: a heading of a level the page has not used before, in the last 15 % of the kept text
  and followed by at most ``tail_section_max_chars`` (author boxes, promotions, "partners" boxes).
* **repeated short lines** within the page (a repeated headline, photo credit or navigation) beyond their first
  occurrence: they would otherwise fail a whole good article in FineWeb's duplicate-line filter
  (``max_repeat_chars``; its cost on structured articles is in ``PrecisionConfig``'s notes).
* **site templates** (:mod:`tasks.ingest.boilerplate.site`, a per-shard pass run by the ingest after
  extraction): lines on at least three pages of the same host in the shard.

Embedded tweets and quotes (``blockquote.twitter-tweet``, ``instagram-media``, ``tiktok-embed``) are relabelled
before extraction so Resiliparse's social-widget class filter does not drop them (:func:`protect_embeds`), and so
is an article's own teaser paragraph ("article-teaser", "articleTeaser": :func:`protect_leads`), which its class
filter takes for another article's teaser. Elements whose class or id names chrome Resiliparse does not know
(captions, related-article boxes, footers inside the content column, author boxes) are skipped
(:func:`mark_chrome_elements`).

When Resiliparse's main-content pass has dropped the article itself (the extract is tiny against the page), the
whole page is extracted instead, without its navigation, site footers, breadcrumbs, cookie banners and modal
dialogs (:func:`mark_page_chrome`), and the rules above clean the rest.

The stage works on one page at a time and is deterministic; see ``bench/bench_extract.py`` for its quality on
the trafilatura evaluation pages (split by site), on pages with whole-article ground truth it was never tuned
on (``--article-benchmark``, :mod:`tasks.ingest.article_benchmark`), and its cost per page.
"""

from __future__ import annotations

from resiliparse.parse.html import HTMLTree

from tasks.ingest.boilerplate.blocks import Block, parse_blocks, render
from tasks.ingest.boilerplate.dom import (
    CHROME_ELEMENTS,
    FALLBACK_CHROME,
    extract_markup,
    mark_chrome_elements,
    mark_page_chrome,
    protect_embeds,
    protect_leads,
    scan_source,
)
from tasks.ingest.boilerplate.patterns import CHROME, END_MARKER, NOTICE, WEAK_CHROME
from tasks.ingest.boilerplate.rules import PrecisionConfig, clean_blocks, drop_reasons

# Bump on any change to the rules, patterns or site pass: every ingested shard's version includes it, so shards
# extracted by older rules are redone (tasks/ingest/shard.py: shard_version).
RULES_VERSION = "2026-12-07.8"

__all__ = [
    "CHROME",
    "CHROME_ELEMENTS",
    "END_MARKER",
    "FALLBACK_CHROME",
    "NOTICE",
    "RULES_VERSION",
    "WEAK_CHROME",
    "Block",
    "PrecisionConfig",
    "clean_blocks",
    "drop_reasons",
    "explain",
    "extract_text",
    "mark_chrome_elements",
    "mark_page_chrome",
    "page_blocks",
    "parse_blocks",
    "protect_embeds",
    "protect_leads",
    "render",
    "scan_source",
]


def extract_text(html: str, config: PrecisionConfig, main_content: bool = True) -> str:
    """Main text of one page: Resiliparse's main-content extract, then the precision rules."""
    return render(clean_blocks(page_blocks(html, config, main_content), config))


def explain(html: str, config: PrecisionConfig, main_content: bool = True) -> list[tuple[Block, str | None]]:
    """Every block of the page with the reason it is dropped (None: kept), for debugging and tuning."""
    blocks = page_blocks(html, config, main_content)
    return list(zip(blocks, drop_reasons(blocks, config), strict=True))


def page_blocks(html: str, config: PrecisionConfig, main_content: bool = True) -> list[Block]:
    """The blocks of Resiliparse's main-content extract of ``html``, before the precision rules.

    When the main-content extract is tiny (under ``fallback_min_chars`` and under ``fallback_max_ratio`` of
    the whole page's text) Resiliparse has dropped the article itself (pages without article markup), so the
    whole page is extracted instead, without its navigation, footers, breadcrumbs and cookie or modal dialogs
    (``fallback_skip_chrome``: :data:`~tasks.ingest.boilerplate.dom.FALLBACK_CHROME`), and the precision rules
    remove the rest of its chrome."""
    tree = HTMLTree.parse(html)
    try:
        source = scan_source(html)
        protect_embeds(tree, source)
        if config.keep_leads:
            protect_leads(tree, source)
        if config.class_hints:
            mark_chrome_elements(tree, config.class_hint_max_share)
        markup = extract_markup(tree, main_content=main_content)
        if main_content and len(markup) < config.fallback_min_chars * 2:
            main_chars = sum(len(b.text) for b in parse_blocks(markup))
            if main_chars < config.fallback_min_chars:
                whole = extract_markup(tree, main_content=False)
                if main_chars < config.fallback_max_ratio * len(whole):
                    if config.fallback_skip_chrome and mark_page_chrome(
                        tree, config.fallback_chrome_max_share
                    ):
                        whole = extract_markup(tree, main_content=False)
                    markup = whole
    finally:
        # The tree must not outlive this call (it cannot be freed on another thread).
        del tree
    return parse_blocks(markup)
