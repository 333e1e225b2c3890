"""DOM passes before extraction: chrome elements named by class / id (skipped), embedded posts (kept)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import CSSParserException, ElementNode, HTMLTree

# Class / id substrings naming page chrome, measured on the tuning half: each removes more must-not than must
# snippets there. "caption" and "related" first; then the standard chrome names Resiliparse leaves in the main
# content: "footer" (site and article footers inside the content column) and author boxes ("author-info",
# "author-desc"): together +12 must-not snippets removed and no must snippet lost on the tuning half, both of
# its site folds gaining. Not names of chrome here ("author", "share", "social", "widget", "teaser", "tags",
# "header", "banner", "sidebar", "menu", "promo", "credit" each cost must snippets: they also name article
# wrappers and columns); "subscribe", "signup", "donat", "tagcloud", "cookie", "rating", "byline", "consent",
# "comment", "disqus", "pagination", "newsletter" changed nothing; "popup", "masthead", "site-branding" gained
# 0-1 snippet each.
_CHROME_NAMES = ("caption", "related", "footer", "author-info", "author-desc")
# Selected by lexbor's attribute-substring selectors, in C: 0.21 ms a page on the evaluation pages (mean), where
# finding the names in the page's bytes in Python and then selecting the class / id tokens found cost 0.52 ms.
# ``<figcaption>`` elements go with them.
CHROME_ELEMENTS = ", ".join(f"[class*={name}], [id*={name}]" for name in _CHROME_NAMES) + ", figcaption"
# An article's own teaser paragraph (standfirst), which Resiliparse's class filter drops for the "teaser" in its
# name ("article-teaser", "articleTeaser", "pdb-article-teaser-intro"): relabelled so it is kept. +3 must
# snippets, no must-not, on the tuning half. Only with an article prefix: a bare "teaser" is usually another
# article's card. Found by one scan for the key, then the whole class token is checked.
_LEAD_KEY = b"easer"
_LEAD = re.compile(r"(?:article|text|post|entry|story)[-_]?teaser", re.IGNORECASE)
# What must precede the key in such a name: checked on the few bytes before an occurrence first (a listing page
# holds thousands of "teaser"s; most are not a lead).
_LEAD_BEFORE = re.compile(rb"(?:article|text|post|entry|story)[-_]?t\Z", re.IGNORECASE)
_SKIP_ATTR = "data-quarry-chrome"
_SKIP_SELECTOR = f"[{_SKIP_ATTR}]"
_MAX_CHROME_ELEMENTS = 100
# A chrome element this short is skipped without measuring the page (a caption, a "related" link row).
_ALWAYS_SKIP_CHARS = 200
_CSS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TOKEN_END = frozenset(b" \"'>\t\n")
# The bytes that can precede a name inside a class / id token: after any other byte (``<footer``, ``.footer``,
# ``/related``) the token would not be a CSS name, so the occurrence is passed over without looking back for a
# quote.
_TOKEN_BEFORE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_- \"'")
# The page's own chrome, skipped before the whole-page fallback extract (Resiliparse's main-content pass dropped
# the article, so its own chrome removal is not applied either): navigation by tag, ARIA role and id, site
# footers, breadcrumbs, cookie banners and modal dialogs. Chosen on WCXB's dev pages, where 136 of 1,497 pages
# take the fallback: their kept must-not snippets 93 -> 42 (+51 of 5,824 in all), no must snippet lost; on the
# tuning half's 21 fallback pages +2 must and +1 must-not snippet; the article benchmark's pages never take
# it. Not in it: ``header`` (cost 3 must snippets on the tuning half: the title block), ``aside`` (8 on WCXB
# dev), ``[class*=menu]`` (+1 snippet, and it names a restaurant's menu as well as a site's). Menu ids skip list
# items: WordPress names every item ``menu-item-N``, and measuring each one cost 5.6 ms a fallback page.
FALLBACK_CHROME = (
    "nav, [role=navigation], [id*=menu]:not(li), [class*=navbar], [class*=breadcrumb], "
    "footer, [role=contentinfo], [class*=cookie], [class*=modal]"
)
_EMBED_MARKERS = (b"twitter-tweet", b"instagram-media", b"tiktok-embed")
_EMBED_SELECTOR = "blockquote.twitter-tweet, blockquote.instagram-media, blockquote.tiktok-embed"


def extract_markup(tree: HTMLTree, main_content: bool) -> str:
    return extract_plain_text(
        tree,
        skip_elements=[_SKIP_SELECTOR],
        preserve_formatting="minimal_html",
        main_content=main_content,
        list_bullets=True,
        alt_texts=False,
        links=True,
        form_fields=False,
        noscript=False,
        comments=False,
        post_meta=False,
    )


def scan_source(html: str) -> bytes:
    """What the class-name scans read: the page from its first ``<body`` on (the whole page when it has none),
    UTF-8 encoded. Nearly every page has non-ASCII text, so its ``str`` holds 2-4 bytes a character and each
    ``str.find`` scan reads 2-4x the bytes a scan of the UTF-8 copy reads; the head (a median 18 % of the page:
    scripts, styles) holds no element the passes select. Called after ``HTMLTree.parse(html)``, which leaves the
    string's UTF-8 form cached on it, this costs ~25 µs on a median page (~100 µs otherwise). Only a lower-case
    ``<body`` is looked for; a page without one is scanned whole."""
    page = html.encode("utf-8", "surrogatepass")
    body = page.find(b"<body")
    return page[body:] if body > 0 else page


def _source(html: str | bytes) -> bytes:
    return html if isinstance(html, bytes) else scan_source(html)


def _occurrences(source: bytes, key: bytes) -> Iterator[int]:
    """Positions of ``key`` in ``source``, one C-level ``bytes.find`` each."""
    at = source.find(key)
    while at >= 0:
        yield at
        at = source.find(key, at + len(key))


def _attribute_token(source: bytes, at: int) -> str | None:
    """``.token`` / ``#token`` if position ``at`` lies in a class / id attribute value, else None."""
    if at > 0 and source[at - 1] not in _TOKEN_BEFORE:
        return None
    quote = max(source.rfind(b'"', max(0, at - 200), at), source.rfind(b"'", max(0, at - 200), at))
    if quote < 0 or b"<" in source[quote:at] or b">" in source[quote:at]:
        return None
    head = source[max(0, quote - 8) : quote].lower().replace(b" ", b"")
    kind = "." if head.endswith(b"class=") else "#" if head.endswith(b"id=") else ""
    if not kind:
        return None
    start = max(source.rfind(b" ", quote, at), quote) + 1
    end = at
    while end < len(source) and source[end] not in _TOKEN_END:
        end += 1
    token = source[start:end].decode("utf-8", "replace")
    return kind + token if _CSS_NAME.match(token) else None


def mark_chrome_elements(tree: HTMLTree, max_share: float) -> int:
    """Mark elements whose class or id names page chrome Resiliparse does not know (:data:`CHROME_ELEMENTS`:
    captions, related-article boxes, footers, author boxes) for skipping, unless one holds more
    than ``max_share`` of the page's text (a wrapper such as ``<div class="page-with-related">``); an element
    of at most ``_ALWAYS_SKIP_CHARS`` characters is no wrapper and is marked without measuring the page."""
    body = tree.body
    if body is None:
        return 0
    found = body.query_selector_all(CHROME_ELEMENTS)
    # The page's text is only measured when an element is large enough to be a wrapper: ``body.text`` costs
    # ~0.45 ms (median over the evaluation pages with hints); measured lazily the pass costs 0.11 ms/page less
    # on average.
    return _mark(body, found[:_MAX_CHROME_ELEMENTS], max_share) if len(found) else 0


def mark_page_chrome(tree: HTMLTree, max_share: float) -> int:
    """Mark the page's own chrome (:data:`FALLBACK_CHROME`: navigation, site footers, breadcrumbs, cookie and
    modal dialogs) for skipping, unless one element holds more than ``max_share`` of the page's text; for the
    whole-page fallback extract, which Resiliparse's main-content pass does not clean."""
    body = tree.body
    if body is None:
        return 0
    return _mark(body, body.query_selector_all(FALLBACK_CHROME), max_share)


def _mark(body: ElementNode, found: Iterable[ElementNode], max_share: float) -> int:
    """Mark ``found`` for skipping, but an element of more than ``_ALWAYS_SKIP_CHARS`` characters only if it
    holds at most ``max_share`` of the page's text (measured once, lazily); returns how many were marked."""
    limit: float | None = None
    marked = 0
    for node in found:
        size = len(node.text or "")
        if size > _ALWAYS_SKIP_CHARS:
            if limit is None:
                limit = max_share * len(body.text or "")
            if size > limit:
                continue
        node.setattr(_SKIP_ATTR, "1")
        marked += 1
    return marked


def protect_embeds(tree: HTMLTree, html: str | bytes) -> int:
    """Relabel embedded tweets / posts so Resiliparse's social-widget filter keeps them; returns how many."""
    source = _source(html)
    if b"<blockquote" not in source or not any(m in source for m in _EMBED_MARKERS) or tree.body is None:
        return 0
    found = tree.body.query_selector_all(_EMBED_SELECTOR)
    for node in found:
        node.setattr("class", "quarry-embedded-quote")
    return len(found)


def protect_leads(tree: HTMLTree, html: str | bytes) -> int:
    """Relabel the article's own teaser paragraphs (:data:`_LEAD` class names) so Resiliparse keeps them;
    returns how many."""
    source = _source(html)
    selectors: set[str] = set()
    for at in _occurrences(source, _LEAD_KEY):
        if not _LEAD_BEFORE.search(source, max(0, at - 9), at):
            continue
        selector = _attribute_token(source, at)
        if selector and selector.startswith(".") and _LEAD.search(selector):
            selectors.add(selector)
    if not selectors or tree.body is None:
        return 0
    try:
        found = tree.body.query_selector_all(", ".join(sorted(selectors)))
    except CSSParserException:
        return 0
    for node in found:
        node.setattr("class", "quarry-lead")
    return len(found)
