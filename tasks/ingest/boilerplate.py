"""Precision stage after Resiliparse: drops the boilerplate lines its main-content heuristics keep.

Resiliparse (``main_content=True``) already removes navigation, headers, footers, sidebars and comment sections
by tag, ARIA role and class name. What it keeps and this stage removes, block by block (one block = one line
of its ``minimal_html`` output, so each block knows whether it is a heading and how much of it is link text):

* **link-heavy blocks**: a non-heading block whose text is mostly link text (``max_link_density``): "read
  also" teasers, tag lists, breadcrumbs, category and login lines. Listing pages (most of the page's text is
  linked headlines) are detected and keep their headlines.
* **chrome patterns** (:data:`CHROME`): cookie and consent notices, newsletter and subscription boxes, donation
  appeals, share prompts, copyright lines, photo credits, "posted in / tags" lines, sources, author boxes, in
  the languages of the evaluation set (en, de, fr, es, it, pl, pt, nl); only blocks shorter than
  ``max_chrome_chars`` are matched, so an article that mentions cookies stays.
* **date-only and separator-only lines**.
* **the tail after an end-of-article marker** (:data:`END_MARKER`): a short heading-like block such as
  "Related articles", "Lesen Sie auch", "Über den Autor", "Kommentare" in the second half of the text ends
  the article; it and everything after it are dropped.
* **repeated short lines** within the page (gallery captions, photo credits, "share" rows) beyond their first
  occurrence.

Embedded tweets and quotes (``blockquote.twitter-tweet``, ``instagram-media``, ``tiktok-embed``) are relabelled
before extraction so Resiliparse's social-widget class filter does not drop them (:func:`protect_embeds`).

The stage works on one page at a time and is deterministic; see ``bench/bench_extract.py`` for its quality on
the trafilatura evaluation pages (split by site) and its cost per page.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import CSSParserException, HTMLTree

# Class / id substrings measured on the tuning half: each removes more must-not than must snippets there
# ("author", "share", "widget", "teaser", "tags" and "social" do not: they also name article wrappers).
# Kept short: every name is one scan of the page (subscribe, signup, donat, tagcloud, cookie and rating
# changed nothing on the tuning half; Resiliparse already drops cookie footers).
_CHROME_NAMES = ("caption", "related", "byline", "consent")
_SKIP_ATTR = "data-quarry-chrome"
_SKIP_SELECTOR = f"[{_SKIP_ATTR}]"
# Found in the HTML string first (one C regex pass), then selected by exact class / id in the DOM: an attribute
# substring selector over every element costs more than the whole precision stage.
_MAX_CHROME_ELEMENTS = 100
_CSS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_EMBED_MARKERS = ("twitter-tweet", "instagram-media", "tiktok-embed")
_EMBED_SELECTOR = "blockquote.twitter-tweet, blockquote.instagram-media, blockquote.tiktok-embed"
_LINE_TAG = re.compile(r"^\s*<(h[1-6]|li|p|pre|ul|ol|/ul|/ol)\b")
_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.DOTALL)
_PRE_OPEN = re.compile(r"<pre\b")
_PRE_CLOSE = re.compile(r"</pre>")
_WS = re.compile(r"\s+")

CHROME = re.compile(
    r"cookie|newsletter|\babonn|subscribe|sign[ -]?up\b|\binscri[bv]|\banmelden|"
    r"all rights reserved|alle rechte|tous droits|todos los derechos|wszelkie prawa|©|\(c\) ?\d{4}|"
    r"^(?:foto|photo|bild|image|credit|fotos?|zdj[eę]cie|źródło|quelle|source|fuente|fonte|via)s? ?:|"
    r"getty ?images|shutterstock|istock|\bimago\b|/dpa\b|\bdpa/|pixelio|pixabay|unsplash|"
    r"^(?:tags?|schlagw[oö]rter|stichw[oö]rter|themen|kategorien?|category|categories|filed under|"
    r"posted in|tagged|temas|etiquetas|tagi|mots-cl[ée]s)\b ?:?|this entry was posted|"
    r"dieser eintrag wurde|bookmark the permalink|creative commons|licensed under|lizenziert|"
    r"sofern nicht anders|\bbild ?: ?[A-Z]|\bfotos? ?: ?[A-Z]|crédits? photos?|^abbildung ?:|"
    r"kommentare? (?:verfassen|schreiben|abgeben)|keine kommentare|bloggern gefällt|einloggen|eingeloggt|"
    r"push notifications|feedback|\bbewertung|\bbewerten|rate this|"
    r"^(?:zuletzt )?(?:aktualisiert|letzte änderung|last (?:modified|updated)|updated|published)\b|"
    r"^[-–— ]*(?:advertisement|anzeige|werbung|publicidad|publicité|reklama|externer inhalt)[-–— ]*$|"
    r"weiterlesen\?|articles? gratuits?|\bim abo\b|ein abo\b|"
    r"^(?:read (?:more|also|next)|lesen sie (?:auch|mehr)|mehr zum thema|czytaj (?:też|także|więcej)|"
    r"le puede interesar|(?:à )?lire aussi|leggi anche|lee también|leia também|read|lesen sie dazu)\b ?:",
    re.IGNORECASE,
)
WEAK_CHROME = re.compile(
    r"\bprivacy\b|datenschutz|impressum|\bimprint\b|terms of (?:use|service)|nutzungsbedingungen|"
    r"\bshare\b|\bteilen\b|\bpartager\b|\bcompartir\b|udostępnij|follow us|folgen sie uns|folge uns|"
    r"suivez-nous|s[ií]guenos|like us on|liken sie|\bdonat|\bspende|unterstütze|support us|wesprzyj|"
    r"faire un don|\blog ?in\b|einloggen|registrier|zurück|back to top|nach oben|"
    r"^(?:by|von|par|por|przez|door) [A-ZÀ-Ž][^ ]+(?: [A-ZÀ-Ž][^ ]+){0,3}$|"
    r"^(?:autor|author|auteur|redaktion)(?:in)? ?:",
    re.IGNORECASE,
)
END_MARKER = re.compile(
    r"^(?:related|more (?:from|on|in|stories|news|articles)|read (?:more|next)|recommended|popular|trending|"
    r"latest (?:news|posts|articles|stories)|you (?:may|might) also|also on|further reading|"
    r"about the author|comments?\b|leave a (?:reply|comment)|share (?:this|the)|subscribe|newsletter|"
    r"verwandte|ähnliche|weitere (?:artikel|beiträge|news|meldungen|themen|nachrichten|informationen|\w*tipps)|"
    r"die redaktion empfiehlt|top[- ]themen|entdecke|siehe auch|"
    r"mehr (?:zum|aus|von|artikel|news|themen|zu)|lesen sie (?:auch|mehr)|schon gelesen|"
    r"das könnte|(?:dich|sie) auch interessieren|auch interessant|interessante|empfehlungen|zum weiterlesen|über den autor|"
    r"über die autorin|kommentare?|neueste|aktuelle (?:artikel|beiträge|news)|"
    r"teilen|nächster artikel|vorheriger artikel|"
    r"articles? (?:similaires|liés|connexes)|à lire|lire aussi|sur le même sujet|commentaires|vos réactions|"
    r"art[ií]culos relacionados|te puede interesar|le puede interesar|m[aá]s (?:sobre|noticias)|"
    r"comentarios|czytaj|zobacz (?:też|także)|podobne|komentarze|polecane|"
    r"leia (?:também|mais)|veja também|notícias relacionadas|"
    r"articoli correlati|leggi anche|potrebbe interessarti|gerelateerde|lees ook)",
    re.IGNORECASE,
)
_DATE_ONLY = re.compile(
    r"^[\W_]*(?:(?:mon|tue|wed|thu|fri|sat|sun|mo|di|mi|do|fr|sa|so|montag|dienstag|mittwoch|donnerstag|"
    r"freitag|samstag|sonntag)[a-z]*\.?,? )?"
    r"(?:\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d{1,2}\.? ?[A-Za-zäéûó]+\.? \d{2,4}|[A-Za-zäéûó]+\.? \d{1,2},? \d{4})"
    r"(?:,? (?:um )?\d{1,2}[:.]\d{2}(?: ?(?:uhr|am|pm|h))?)?[\W_]*$",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?…\"“”»«)]\s*$")


@dataclass(frozen=True)
class PrecisionConfig:
    """Thresholds of the precision stage (defaults tuned on one half of the evaluation pages, by site)."""

    max_link_density: float = 0.5
    listing_link_share: float = 0.5
    max_chrome_chars: int = 200
    max_weak_chrome_chars: int = 60
    end_marker_max_chars: int = 60
    end_marker_min_position: float = 0.5
    max_repeat_chars: int = 120
    edge_max_chars: int = 60
    trim_head: bool = True
    trim_end: bool = True
    drop_title: bool = True
    tail_resume_chars: int = 10**9
    edge_lists: bool = False
    class_hints: bool = True
    class_hint_max_share: float = 0.3
    fallback_min_chars: int = 500
    fallback_max_ratio: float = 0.1


@dataclass
class Block:
    """One line of the extract: ``kind`` is its leading tag (``h1``-``h6``, ``li``, ``p``, ``pre`` or '')."""

    kind: str
    text: str
    link_chars: int
    list_depth: int = 0
    ordered: bool = False

    @property
    def link_density(self) -> float:
        return self.link_chars / len(self.text) if self.text else 0.0

    @property
    def heading(self) -> bool:
        return self.kind.startswith("h")


def extract_text(html: str, config: PrecisionConfig, main_content: bool = True) -> str:
    """Main text of one page: Resiliparse's main-content extract, then the precision rules.

    When the main-content extract is tiny (under ``fallback_min_chars`` and under ``fallback_max_ratio`` of
    the whole page's text) Resiliparse has dropped the article itself (pages without article markup), so the
    whole page is extracted instead and the precision rules alone remove its chrome."""
    tree = HTMLTree.parse(html)
    try:
        protect_embeds(tree, html)
        if config.class_hints:
            mark_chrome_elements(tree, html, config.class_hint_max_share)
        markup = _extract(tree, main_content=main_content)
        if main_content and len(markup) < config.fallback_min_chars * 2:
            main_chars = sum(len(b.text) for b in parse_blocks(markup))
            if main_chars < config.fallback_min_chars:
                whole = _extract(tree, main_content=False)
                if main_chars < config.fallback_max_ratio * len(whole):
                    markup = whole
    finally:
        # The tree must not outlive this call (it cannot be freed on another thread).
        del tree
    return render(clean_blocks(parse_blocks(markup), config))


def _extract(tree: HTMLTree, main_content: bool) -> str:
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


def chrome_selector(html: str) -> str | None:
    """A CSS selector of the elements of ``html`` whose class or id contains a chrome name, or None."""
    selectors: set[str] = set()
    for name in _CHROME_NAMES:  # lower-case class names only: lowering the whole page costs 0.5 ms
        at = html.find(name)
        while at >= 0:
            if html.startswith("<fig", at - 4):
                selectors.add("figcaption")
            else:
                selector = _attribute_token(html, at)
                if selector:
                    selectors.add(selector)
            at = html.find(name, at + len(name))
    return ", ".join(sorted(selectors)) if selectors else None


def _attribute_token(html: str, at: int) -> str | None:
    """``.token`` / ``#token`` if position ``at`` lies in a class / id attribute value, else None."""
    quote = max(html.rfind('"', max(0, at - 200), at), html.rfind("'", max(0, at - 200), at))
    if quote < 0 or "<" in html[quote:at] or ">" in html[quote:at]:
        return None
    head = html[max(0, quote - 8) : quote].lower().replace(" ", "")
    kind = "." if head.endswith("class=") else "#" if head.endswith("id=") else ""
    if not kind:
        return None
    start = max(html.rfind(" ", quote, at), quote) + 1
    end = at
    while end < len(html) and html[end] not in " \"'>\t\n":
        end += 1
    token = html[start:end]
    return kind + token if _CSS_NAME.match(token) else None


def mark_chrome_elements(tree: HTMLTree, html: str, max_share: float) -> int:
    """Mark elements whose class or id names page chrome Resiliparse does not know (captions, bylines,
    related-article, subscription, donation, consent and rating boxes) for skipping, unless one holds more
    than ``max_share`` of the page's text (a wrapper such as ``<div class="page-with-related">``)."""
    body = tree.body
    selector = chrome_selector(html)
    if body is None or selector is None:
        return 0
    try:
        found = body.query_selector_all(selector)
    except CSSParserException:  # a class name lexbor will not parse: no hints for this page
        return 0
    if not len(found):
        return 0
    limit = max_share * len(body.text or "")
    marked = 0
    for node in found[:_MAX_CHROME_ELEMENTS]:
        if len(node.text or "") <= limit:
            node.setattr(_SKIP_ATTR, "1")
            marked += 1
    return marked


def protect_embeds(tree: HTMLTree, html: str) -> int:
    """Relabel embedded tweets / posts so Resiliparse's social-widget filter keeps them; returns how many."""
    if tree.body is None or "<blockquote" not in html or not any(marker in html for marker in _EMBED_MARKERS):
        return 0
    found = tree.body.query_selector_all(_EMBED_SELECTOR)
    for node in found:
        node.setattr("class", "quarry-embedded-quote")
    return len(found)


def parse_blocks(markup: str) -> list[Block]:
    """Blocks of Resiliparse's ``preserve_formatting='minimal_html', links=True`` output, one per line."""
    blocks: list[Block] = []
    depth = 0
    ordered: list[bool] = []
    in_pre = False
    for line in markup.split("\n"):
        if in_pre:
            in_pre = _PRE_CLOSE.search(line) is None
            text = htmllib.unescape(_TAG.sub("", line))
            if text.strip():
                blocks.append(Block("pre", text.rstrip(), 0))
            continue
        match = _LINE_TAG.match(line)
        kind = match.group(1) if match else ""
        if kind in ("ul", "ol"):
            depth += 1
            ordered.append(kind == "ol")
            continue
        if kind in ("/ul", "/ol"):
            depth = max(0, depth - 1)
            if ordered:
                ordered.pop()
            continue
        if kind == "pre":
            in_pre = _PRE_CLOSE.search(line) is None
        if "<" in line:
            links = sum(len(_WS.sub(" ", _strip(x)).strip()) for x in _LINK.findall(line))
            text = _strip(line)
        else:
            links = 0
            text = htmllib.unescape(line) if "&" in line else line
        text = text.strip() if kind != "pre" else text.rstrip()
        if text:
            blocks.append(Block(kind, text, links, depth, bool(ordered and ordered[-1])))
    return blocks


def _strip(markup: str) -> str:
    text = _TAG.sub("", markup)
    return htmllib.unescape(text) if "&" in text else text


def clean_blocks(blocks: list[Block], config: PrecisionConfig) -> list[Block]:
    """The blocks that survive the precision rules, in order."""
    reasons = drop_reasons(blocks, config)
    return [b for b, r in zip(blocks, reasons, strict=True) if r is None]


def drop_reasons(blocks: list[Block], config: PrecisionConfig) -> list[str | None]:
    """Per block, why it is dropped (``link_density``, ``chrome``, ``date``, ``repeat``, ``tail``) or None."""
    reasons: list[str | None] = [None] * len(blocks)
    if not blocks:
        return reasons
    total = sum(len(b.text) for b in blocks)
    linked = sum(b.link_chars for b in blocks)
    listing = total > 0 and linked / total >= config.listing_link_share
    _cut_tail(blocks, reasons, total, config)
    _trim_edges(blocks, reasons, config)
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        if reasons[i] is not None or block.kind == "pre":
            continue
        text = block.text
        size = len(text)
        if not listing and not block.heading and block.link_density > config.max_link_density:
            reasons[i] = "link_density"
        elif _is_chrome(text, config):
            reasons[i] = "chrome"
        elif size <= 40 and (_DATE_ONLY.match(text) or not any(c.isalnum() for c in text)):
            reasons[i] = "date"
        elif size <= config.max_repeat_chars:
            key = text.lower()
            if key in seen:
                reasons[i] = "repeat"
            seen.add(key)
    return reasons


def _is_chrome(text: str, config: PrecisionConfig) -> bool:
    size = len(text)
    if size <= config.max_weak_chrome_chars and WEAK_CHROME.search(text):
        return True
    return size <= config.max_chrome_chars and CHROME.search(text) is not None


def _cut_tail(blocks: list[Block], reasons: list[str | None], total: int, config: PrecisionConfig) -> None:
    position = 0
    for i, block in enumerate(blocks):
        size = len(block.text)
        if (
            position >= config.end_marker_min_position * total
            and size <= config.end_marker_max_chars
            and block.kind != "pre"
            and "\t" not in block.text
            and ": " not in block.text
            and not block.text.rstrip().endswith(".")
            and END_MARKER.match(block.text)
        ):
            for j in range(i, len(blocks)):
                if j > i and _is_prose(blocks[j]) and len(blocks[j].text) >= config.tail_resume_chars:
                    break
                reasons[j] = "tail"
            return
        position += size


def _is_prose(block: Block) -> bool:
    return (
        len(block.text) >= 100 and block.link_density < 0.5 and _SENTENCE_END.search(block.text) is not None
    )


def _trim_edges(blocks: list[Block], reasons: list[str | None], config: PrecisionConfig) -> None:
    """Short non-sentence lines before the first and after the last prose paragraph (titles, datelines,
    contact and "more" stubs)."""
    prose = [i for i, b in enumerate(blocks) if reasons[i] is None and _is_prose(b)]
    if not prose:
        return
    if config.trim_end:
        for i in range(prose[-1] + 1, len(blocks)):
            block = blocks[i]
            short = reasons[i] is None and len(block.text) <= config.edge_max_chars and block.kind != "pre"
            short = short and (config.edge_lists or block.kind != "li")
            if short and (block.heading or not _SENTENCE_END.search(block.text)):
                reasons[i] = "edge"
    if config.drop_title:
        for i in range(min(3, prose[0])):
            if blocks[i].kind == "h1" and reasons[i] is None:
                reasons[i] = "edge"
    if config.trim_head:
        for i in range(prose[0]):
            block = blocks[i]
            short = reasons[i] is None and len(block.text) <= config.edge_max_chars and not block.heading
            short = short and (config.edge_lists or block.kind != "li")
            if short and not _SENTENCE_END.search(block.text):
                reasons[i] = "edge"


def render(blocks: list[Block]) -> str:
    """Plain text in the layout of Resiliparse's ``preserve_formatting=True`` output."""
    out: list[str] = []
    previous = ""
    counters: dict[int, int] = {}
    for block in blocks:
        if block.kind == "li":
            indent = "  " * block.list_depth
            if block.ordered:
                counters[block.list_depth] = counters.get(block.list_depth, 0) + 1
                out.append(f"{indent}{counters[block.list_depth]}. {block.text}")
            else:
                out.append(f"{indent}• {block.text}")
        else:
            counters.clear()
            if out and (block.kind != "" or previous != ""):
                out.append("")
            out.append(block.text)
        previous = block.kind
    return "\n".join(out)
