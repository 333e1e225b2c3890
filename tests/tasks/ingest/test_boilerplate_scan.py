"""The precision stage's cheap scans: chrome elements selected by class / id substring, teaser class names found
in the UTF-8 bytes of the page body (tasks/ingest/boilerplate/dom.py), and chrome phrases grouped by first
character (patterns.py), which must decide exactly what the plain alternation decides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from resiliparse.parse.html import HTMLTree

from tasks.ingest.boilerplate import CHROME_ELEMENTS, PrecisionConfig, page_blocks, protect_leads, scan_source
from tasks.ingest.boilerplate.patterns import (
    CHROME,
    NOTICE,
    WEAK_CHROME,
    Phrases,
    group_alternatives,
    plain_head,
    split_alternatives,
)
from tasks.ingest.sample_snapshot import load_eval_pages


def test_scan_source_is_the_body_in_utf8() -> None:
    page = '<html><head><style>.x{}</style></head><body class="a">Grüße</body></html>'
    assert scan_source(page) == '<body class="a">Grüße</body></html>'.encode()
    assert scan_source("<p>no body tag: ü</p>") == "<p>no body tag: ü</p>".encode()


def _chrome_names(html: str) -> list[str]:
    tree = HTMLTree.parse(html)
    assert tree.body is not None
    return [
        n.getattr("class") or "#" + (n.getattr("id") or n.tag)
        for n in tree.body.query_selector_all(CHROME_ELEMENTS)
    ]


def test_chrome_elements_are_found_by_class_and_id_after_multibyte_text() -> None:
    html = (
        '<body><p>Grüße 😀 — “quotes”</p><div class="wp-caption big">x</div><p id="related-box">y</p>'
        '<div class="caption-für">z</div><p>related text, not an attribute</p></body>'
    )
    assert _chrome_names(html) == ["wp-caption big", "#related-box", "caption-für"]


def test_names_in_scripts_are_not_elements() -> None:
    # the former byte scan had to skip the head to avoid this; the DOM has no such element
    head = """<head><script>var t = '<div class="related-js">';</script></head>"""
    assert _chrome_names(f'<html>{head}<body><p class="related-body">x</p></body></html>') == ["related-body"]
    assert _chrome_names(f"<html>{head}<p>x</p></html>") == []


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


@pytest.mark.parametrize(
    ("name", "sources"),
    [
        ("chrome anywhere", CHROME.sources[2]),
        ("chrome word", CHROME.sources[1]),
        ("weak chrome anywhere", WEAK_CHROME.sources[2]),
        ("weak chrome word", WEAK_CHROME.sources[1]),
        ("notice", NOTICE.sources),
    ],
)
def test_searched_phrases_all_start_with_a_plain_character(name: str, sources: tuple[str, ...]) -> None:
    """Every alternative of a searched pattern starts with a plain character, so the grouped pattern is one
    branch per first character, which Python's matcher skips through quickly; one alternative written as
    ``(?:a|b) c`` made the chrome search 2.2x slower (patterns.Phrases)."""
    alternatives = [a for source in sources for a in split_alternatives(source)]
    assert len(alternatives) > 5
    assert [a for a in alternatives if plain_head(a) is None] == [], name
    # the heads the grouping recognises, and what it leaves alone
    assert [plain_head(a) for a in ("cookie", "\\(c\\) ?\\d{4}", "©", "s?ign", "(?:a|b)c", "[ab]c")] == [
        "c",
        "\\(",
        "©",
        None,
        None,
        None,
    ]


def test_lead_and_tag_occurrences_are_told_apart_before_the_token_is_read() -> None:
    html = (
        '<body><footer class="entry-footer">a</footer><div class="teaser card-teaser">b</div>'
        '<p class="articleTeaser">c</p><p class="pdb-article-teaser-intro">d</p><p id="story_teaser">e</p></body>'
    )
    assert _chrome_names(html) == ["entry-footer"]  # by its class: a bare <footer> tag is not selected
    tree = HTMLTree.parse(html)
    assert protect_leads(tree, html) == 2  # class names only: the id is not relabelled, bare teasers stay
    assert [n.text for n in tree.body.query_selector_all(".quarry-lead")] == ["c", "d"]
