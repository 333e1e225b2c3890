"""The whole-page fallback of the precision stage: when Resiliparse's main-content pass drops the article, the
whole page is extracted without its navigation, footers, breadcrumbs, cookie banners and modal dialogs."""

from __future__ import annotations

from dataclasses import replace

from resiliparse.parse.html import HTMLTree

from tasks.ingest.boilerplate import PrecisionConfig, extract_text, mark_page_chrome, parse_blocks
from tasks.ingest.boilerplate.dom import extract_markup

ARTICLE = (
    "The harbour committee met on Tuesday evening and agreed, after a long debate, to rebuild the old stone "
    "pier before the winter storms arrive.",
    "Fishermen had asked for the repair since the spring, when a section of the wall gave way during a high "
    "tide and two boats were damaged.",
    "Work starts next month and should take six weeks; the ferry will use the north landing until then.",
)
NAV = tuple(f"Section number {i} of the site" for i in range(40))
# Worded so that no chrome phrase matches them: only their elements say what they are.
CHROME = (
    "Harbour Street 12, Portwick, open nine to five on weekdays",  # site footer
    "This site keeps small files in your browser to count visits",  # cookie banner
    "Portwick › Local news › Harbour",  # breadcrumb
    "Ask the harbour master a question today",  # modal dialog
)


def _page(wrapper: str = '<div class="hidden md:block">') -> str:
    """A page whose article sits in an element Resiliparse's main-content pass drops (a responsive layout's
    "hidden" column, as on many 2025-26 pages), so the main-content extract is empty."""
    nav = "".join(f'<li><a href="/s{i}">{text}</a></li>' for i, text in enumerate(NAV))
    article = "".join(f"<p>{text}</p>" for text in ARTICLE)
    return (
        f"<html><body><nav><ul>{nav}</ul></nav>"
        f'<div class="breadcrumbs">{CHROME[2]}</div>'
        f"{wrapper}<h2>Pier to be rebuilt</h2>{article}</div>"
        f'<div class="cookie-banner"><p>{CHROME[1]}.</p></div>'
        f'<div class="modal"><p>{CHROME[3]}</p></div>'
        f"<footer><p>{CHROME[0]}.</p></footer></body></html>"
    )


def test_the_page_takes_the_fallback() -> None:
    tree = HTMLTree.parse(_page())
    assert parse_blocks(extract_markup(tree, main_content=True)) == []
    whole = extract_markup(tree, main_content=False)
    assert all(text in whole for text in (*ARTICLE, *CHROME))


def test_fallback_keeps_the_article_and_skips_the_page_chrome() -> None:
    text = extract_text(_page(), PrecisionConfig())
    assert all(line in text for line in ARTICLE)
    assert not [line for line in (*NAV, *CHROME) if line in text]


def test_without_the_defence_the_chrome_is_kept() -> None:
    text = extract_text(_page(), PrecisionConfig(fallback_skip_chrome=False))
    assert all(line in text for line in ARTICLE)
    # the rules alone drop the link list and the short lines at the edges, but keep the footer and the cookie
    # banner: sentences, next to the article
    assert CHROME[0] in text and CHROME[1] in text


def test_an_element_holding_most_of_the_page_is_not_skipped() -> None:
    # the article inside <div id="menu-page">: chrome by name, but it holds most of the page's text
    html = _page('<div class="hidden md:block"><div id="menu-page">' + "<p>" + " ".join(ARTICLE * 8) + "</p>")
    html = html.replace("</body>", "</div></body>")
    for share, skipped in ((0.5, False), (1.0, True)):
        tree = HTMLTree.parse(html)
        mark_page_chrome(tree, max_share=share)
        assert (ARTICLE[0] not in extract_markup(tree, main_content=False)) is skipped
    text = extract_text(html, PrecisionConfig(fallback_chrome_max_share=0.5))
    assert all(line in text for line in ARTICLE)
    assert not [line for line in CHROME if line in text]


def test_the_main_content_path_is_unchanged() -> None:
    # with the article in plain markup, no fallback: the same text with and without the option
    html = _page("<div>")
    assert extract_text(html, PrecisionConfig()) == extract_text(
        html, replace(PrecisionConfig(), fallback_skip_chrome=False)
    )
    assert all(line in extract_text(html, PrecisionConfig()) for line in ARTICLE)
