"""Main-text extraction from HTML payloads (resiliparse), with careful charset handling.

Charset detection lives in :mod:`tasks.ingest.charset`. A page whose text still decodes to mostly replacement
characters is reported as undecodable rather than ingested as garbage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from resiliparse.extract.html2text import extract_plain_text

from tasks.ingest.boilerplate import PrecisionConfig, extract_text
from tasks.ingest.boilerplate.site import SiteRepeatConfig
from tasks.ingest.charset import ExtractionError, check_textual, decode

__all__ = ["ExtractConfig", "ExtractionError", "check_textual", "decode", "html_to_text", "plain_to_text"]


Boilerplate = Literal["quarry", "resiliparse"]
BOILERPLATE_MODES: tuple[Boilerplate, ...] = ("quarry", "resiliparse")


@dataclass(frozen=True)
class ExtractConfig:
    """How HTML becomes text.

    ``boilerplate``: ``"quarry"`` (default) runs Resiliparse's main-content extraction and then Quarry's
    precision stage (:mod:`tasks.ingest.boilerplate`: link-density, chrome-pattern, end-of-article and edge
    rules, a whole-page fallback when the main-content extract is tiny); ``"resiliparse"`` is Resiliparse's
    ``extract_plain_text(main_content=...)`` alone, as datatrove and FineWeb-style pipelines run it.
    ``site_repeat``: with ``"quarry"``, the ingest of a shard also drops lines repeated on several pages of
    the same host in that shard (:mod:`tasks.ingest.boilerplate.site`; ``min_pages=0`` turns it off).
    """

    main_content: bool = True
    max_page_bytes: int = 10 * 1024 * 1024
    max_replacement_ratio: float = 0.05
    boilerplate: Boilerplate = "quarry"
    precision: PrecisionConfig = field(default_factory=PrecisionConfig)
    site_repeat: SiteRepeatConfig = field(default_factory=SiteRepeatConfig)

    def __post_init__(self) -> None:
        if self.boilerplate not in BOILERPLATE_MODES:
            raise ValueError(f"unknown boilerplate mode {self.boilerplate!r}; known: {BOILERPLATE_MODES}")


def html_to_text(payload: bytes, http_charset: str | None, config: ExtractConfig) -> str:
    if len(payload) > config.max_page_bytes:
        raise ExtractionError("page_too_large", f"{len(payload)} bytes > {config.max_page_bytes}")
    html, _ = decode(payload, http_charset)
    _check_replacements(html, config)
    if config.boilerplate == "quarry":
        return normalise_whitespace(extract_text(html, config.precision, main_content=config.main_content))
    # Pass the string, not a parsed tree: the tree must never outlive this call (it cannot be freed on
    # another thread, which Dask's event loop would otherwise do).
    text = extract_plain_text(
        html,
        preserve_formatting=True,
        main_content=config.main_content,
        list_bullets=True,
        alt_texts=False,
        links=False,
        form_fields=False,
        noscript=False,
        comments=False,
        post_meta=False,
    )
    return normalise_whitespace(text)


def plain_to_text(payload: bytes, charset: str | None, config: ExtractConfig) -> str:
    if len(payload) > config.max_page_bytes:
        raise ExtractionError("page_too_large", f"{len(payload)} bytes > {config.max_page_bytes}")
    text, _ = decode(payload, charset or "utf-8")
    _check_replacements(text, config)
    return normalise_whitespace(text)


def _check_replacements(text: str, config: ExtractConfig) -> None:
    if not text:
        return
    bad = text.count("\ufffd")
    if bad and bad / len(text) > config.max_replacement_ratio:
        raise ExtractionError("undecodable", f"{bad} replacement characters in {len(text)}")


# White space other than a single space, and runs of white space: a lone space (most of them) is not matched, so
# it is not replaced by itself, which was most of this function's time.
_SPACES = re.compile(
    r"[\t\u00a0\u2000-\u200b\u3000][ \t\u00a0\u2000-\u200b\u3000]*| [ \t\u00a0\u2000-\u200b\u3000]+"
)
_BLANKS = re.compile(r"\n{3,}")


def normalise_whitespace(text: str) -> str:
    """Runs of spaces, tabs, no-break and other wide spaces become one space, lines are stripped, at most one
    blank line in a row."""
    text = _SPACES.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _BLANKS.sub("\n\n", "\n".join(line.strip() for line in text.split("\n"))).strip()
