"""The precision stage's cheap scans: class names found in the UTF-8 bytes of the page body
(tasks/ingest/boilerplate/dom.py) and chrome phrases grouped by first character (patterns.py); both must decide
exactly what the plain versions decide."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from resiliparse.parse.html import HTMLTree

from tasks.ingest.boilerplate import PrecisionConfig, chrome_selector, page_blocks, protect_leads, scan_source
from tasks.ingest.boilerplate.patterns import (
    CHROME,
    WEAK_CHROME,
    Phrases,
    group_alternatives,
    split_alternatives,
)
from tasks.ingest.sample_snapshot import load_eval_pages


def test_scan_source_is_the_body_in_utf8() -> None:
    page = '<html><head><style>.x{}</style></head><body class="a">Grüße</body></html>'
    assert scan_source(page) == '<body class="a">Grüße</body></html>'.encode()
    assert scan_source("<p>no body tag: ü</p>") == "<p>no body tag: ü</p>".encode()


def test_class_tokens_are_found_after_multibyte_text() -> None:
    """Byte offsets, not character offsets: a token after emoji and umlauts is cut out whole."""
    html = (
        '<body><p>Grüße 😀 — “quotes”</p><div class="wp-caption big">x</div><p id="related-box">y</p></body>'
    )
    assert chrome_selector(html) == "#related-box, .wp-caption"
    assert chrome_selector(scan_source(html)) == chrome_selector(html)
    # a class name lexbor could not select (non-ASCII) is left out rather than mangled
    assert chrome_selector('<body><div class="caption-für">x</div></body>') is None


def test_names_in_the_head_are_not_scanned() -> None:
    head = """<head><script>var t = '<div class="related-js">';</script></head>"""
    assert (
        chrome_selector(f'<html>{head}<body><p class="related-body">x</p></body></html>') == ".related-body"
    )
    # without a <body> tag the whole page is scanned, head included
    assert chrome_selector(f"<html>{head}<p>x</p></html>") == ".related-js"


def test_split_alternatives_respects_groups_classes_and_escapes() -> None:
    assert split_alternatives(r"a[|(]b|(c|d)|e\|f|[]|]g|h") == [r"a[|(]b", "(c|d)", r"e\|f", "[]|]g", "h"]


SAMPLE_PATTERNS = [r"cookie|credit ?:|s?ign up|(?:zeige|alle) beiträge", r"c[|]x\b|©|\(c\) ?\d{4}", "co|ca+t"]
SAMPLE_TEXTS = [
    "cookies",
    "credit:",
    "ign up",
    "sign up",
    "alle beiträge",
    "c|x",
    "© 2020",
    "(c) 2020",
    "caat",
]


def test_grouping_keeps_every_match_of_the_plain_alternation() -> None:
    grouped = re.compile(group_alternatives(SAMPLE_PATTERNS))
    plain = re.compile("|".join(SAMPLE_PATTERNS))
    assert grouped.pattern.startswith("c(?:ookie|redit ?:|[|]x\\b|o|a+t)")
    texts = [*SAMPLE_TEXTS, *(t[:i] + "#" + t[i:] for t in SAMPLE_TEXTS for i in range(len(t)))]
    assert [bool(grouped.search(t)) for t in texts] == [bool(plain.search(t)) for t in texts]
    assert any(grouped.search(t) for t in texts) and not all(grouped.search(t) for t in texts)


def _plain(phrases: Phrases) -> Phrases:
    """The same phrases as one ungrouped alternation each: the reference the grouped patterns must agree with."""
    start, word, anywhere = phrases.sources
    plain = Phrases(list(start), list(word), list(anywhere))
    plain._start = re.compile("|".join(start))
    plain._word = re.compile(r"(?<!\w)(?:" + "|".join(word) + ")")
    plain._anywhere = re.compile("|".join(anywhere))
    return plain


@pytest.mark.parametrize("phrases", [CHROME, WEAK_CHROME], ids=["chrome", "weak_chrome"])
def test_grouped_phrases_decide_like_the_plain_ones_on_real_blocks(
    shared_data: Path, phrases: Phrases
) -> None:
    pages = sorted(load_eval_pages(shared_data), key=lambda p: p.url)[::4]
    texts = [
        b.text.lower()
        for p in pages
        for b in page_blocks(p.html.decode("utf-8", "replace"), PrecisionConfig())
    ]
    texts = [t for t in texts if len(t) <= 200]
    plain = _plain(phrases)
    decided = [phrases.search(t) for t in texts]
    assert decided == [plain.search(t) for t in texts]
    assert 100 < sum(decided) < len(texts) / 2  # the patterns do match real chrome, and not everything


def test_lead_and_tag_occurrences_are_told_apart_before_the_token_is_read() -> None:
    html = (
        '<body><footer class="entry-footer">a</footer><div class="teaser card-teaser">b</div>'
        '<p class="articleTeaser">c</p><p class="pdb-article-teaser-intro">d</p><p id="story_teaser">e</p></body>'
    )
    assert chrome_selector(html) == ".entry-footer"  # the <footer> tags themselves are no class token
    tree = HTMLTree.parse(html)
    assert protect_leads(tree, html) == 2  # class names only: the id is not relabelled, bare teasers stay
    assert [n.text for n in tree.body.query_selector_all(".quarry-lead")] == ["c", "d"]
