"""The block rules: which lines of the main-content extract are boilerplate, and why."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.ingest.boilerplate.blocks import Block
from tasks.ingest.boilerplate.patterns import CHROME, DATE_ONLY, END_MARKER, NOTICE, SENTENCE_END, WEAK_CHROME


@dataclass(frozen=True)
class PrecisionConfig:
    """Thresholds of the precision stage (defaults tuned on one half of the evaluation pages, by site, and on
    WCXB's dev pages, and checked on independent pages: ``bench/bench_extract.py --article-benchmark``,
    ``--wcxb``).

    ``prose_max_link_density`` applies instead of ``max_link_density`` to a block that reads as a sentence (at
    least 60 characters and 9 words, ending like one): news paragraphs link half their words and are still
    the article. ``max_repeat_chars``: a short line seen earlier on the page is dropped when it is at most
    this long (0: repeats are kept). On whole-article ground truth the repeats were mostly the article's own
    lines (a recipe's portions, an interview's questions); on the trafilatura pages they were mostly a repeated
    headline, photo credit or navigation, and keeping them made 6 good English articles fail FineWeb's
    ``char_dup_ratio`` (duplicate lines over 1 % of the characters), so the rule stays on.
    ``edge_keep_tables``: table rows (cells are tab-separated) are never trimmed as edge lines.
    ``max_notice_chars``: cookie-consent, affiliate and form-consent notices (``patterns.NOTICE``) are dropped up
    to this length, past ``max_chrome_chars`` (0: only within ``max_chrome_chars``, as other chrome lines).
    ``fallback_skip_chrome``: the whole-page fallback (``fallback_min_chars``, ``fallback_max_ratio``) skips the
    page's navigation, footers, breadcrumbs, cookie and modal dialogs (``dom.FALLBACK_CHROME``), but an element
    holding more than ``fallback_chrome_max_share`` of the page's text."""

    max_link_density: float = 0.5
    prose_max_link_density: float = 0.65
    listing_link_share: float = 0.5
    max_chrome_chars: int = 200
    max_notice_chars: int = 600
    max_weak_chrome_chars: int = 80
    end_marker_max_chars: int = 60
    end_marker_min_position: float = 0.4
    max_repeat_chars: int = 120
    edge_max_chars: int = 60
    trim_head: bool = True
    trim_end: bool = True
    drop_title: bool = True
    tail_resume_chars: int = 10**9
    edge_lists: bool = False
    class_hints: bool = True
    keep_leads: bool = True
    class_hint_max_share: float = 0.3
    fallback_min_chars: int = 500
    fallback_max_ratio: float = 0.1
    fallback_skip_chrome: bool = True
    fallback_chrome_max_share: float = 0.9
    tail_section_position: float = 0.85
    tail_section_max_chars: int = 600
    late_h1: bool = True
    edge_keep_tables: bool = True


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
        density = block.link_density
        if (
            not listing
            and not block.heading
            and density > config.max_link_density
            and not (density <= config.prose_max_link_density and _is_sentence(block))
        ):
            reasons[i] = "link_density"
        elif _is_chrome(text, config):
            reasons[i] = "chrome"
        elif size <= 40 and (DATE_ONLY.match(text) or not any(c.isalnum() for c in text)):
            reasons[i] = "date"
        elif size <= config.max_repeat_chars:
            key = text.lower()
            if key in seen:
                reasons[i] = "repeat"
            seen.add(key)
    _cut_tail_section(blocks, reasons, config)
    if config.late_h1:
        _drop_late_h1(blocks, reasons)
    return reasons


def _drop_late_h1(blocks: list[Block], reasons: list[str | None]) -> None:
    h1 = [i for i, b in enumerate(blocks) if b.kind == "h1"]
    prose = next((i for i, b in enumerate(blocks) if reasons[i] is None and _is_prose(b)), None)
    if prose is None:
        return
    for i in h1:
        if i > prose and reasons[i] is None:
            reasons[i] = "late_h1"


def _is_chrome(text: str, config: PrecisionConfig) -> bool:
    size = len(text)
    if size > config.max_chrome_chars:
        # only long notices; CHROME holds their phrases too, so short ones are matched below
        return size <= config.max_notice_chars and NOTICE.search(text.lower())
    lowered = text.lower()
    if size <= config.max_weak_chrome_chars and WEAK_CHROME.search(lowered):
        return True
    return CHROME.search(lowered)


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


def _cut_tail_section(blocks: list[Block], reasons: list[str | None], config: PrecisionConfig) -> None:
    """A trailing box: a heading in the last ``1 - tail_section_position`` of the kept text, of a kind (h1-h6)
    the page has not used before, followed by at most ``tail_section_max_chars`` of kept text (author boxes,
    promotions, teasers after the article). It and everything after it go."""
    if config.tail_section_position > 1:
        return
    kept = sum(len(b.text) for b, r in zip(blocks, reasons, strict=True) if r is None)
    after = 0
    for i in range(len(blocks) - 1, -1, -1):
        if reasons[i] is not None:
            continue
        block = blocks[i]
        before = kept - after - len(block.text)
        if (
            block.heading
            and before >= config.tail_section_position * kept
            and all(b.kind != block.kind for b in blocks[:i])
        ):
            for j in range(i, len(blocks)):
                reasons[j] = reasons[j] or "tail_section"
            return
        after += len(block.text)
        if after > config.tail_section_max_chars:
            return


def _is_sentence(block: Block) -> bool:
    """A paragraph of running text: 60+ characters, 9+ words, a sentence's last character."""
    return (
        len(block.text) >= 60 and block.text.count(" ") >= 8 and SENTENCE_END.search(block.text) is not None
    )


def _is_prose(block: Block) -> bool:
    return len(block.text) >= 100 and block.link_density < 0.5 and SENTENCE_END.search(block.text) is not None


def _trim_edges(blocks: list[Block], reasons: list[str | None], config: PrecisionConfig) -> None:
    """Short non-sentence lines before the first and after the last prose paragraph (titles, datelines,
    contact and "more" stubs)."""
    prose = [i for i, b in enumerate(blocks) if reasons[i] is None and _is_prose(b)]
    if not prose:
        return
    if config.trim_end:
        for i in range(prose[-1] + 1, len(blocks)):
            block = blocks[i]
            if (
                reasons[i] is None
                and _edge_candidate(block, config)
                and block.kind != "pre"
                and (block.heading or not SENTENCE_END.search(block.text))
            ):
                reasons[i] = "edge"
    if config.drop_title:
        for i in range(min(3, prose[0])):
            if blocks[i].kind == "h1" and reasons[i] is None:
                reasons[i] = "edge"
    if config.trim_head:
        for i in range(prose[0]):
            block = blocks[i]
            if (
                reasons[i] is None
                and _edge_candidate(block, config)
                and not block.heading
                and not SENTENCE_END.search(block.text)
            ):
                reasons[i] = "edge"


def _edge_candidate(block: Block, config: PrecisionConfig) -> bool:
    """A short line that may be trimmed at the article's edges: not a list item (unless ``edge_lists``), not a
    table row (unless ``edge_keep_tables`` is off)."""
    return (
        len(block.text) <= config.edge_max_chars
        and (config.edge_lists or block.kind != "li")
        and not (config.edge_keep_tables and "\t" in block.text)
    )
