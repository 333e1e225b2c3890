"""Main-text extraction from HTML payloads (resiliparse), with careful charset handling.

Charset: the HTTP ``Content-Type`` charset, else a ``<meta charset>`` / ``http-equiv`` declaration, is tried
strictly first; if it is absent or wrong, the bytes are sniffed (resiliparse's detector). A page whose text
still decodes to mostly replacement characters is reported as undecodable rather than ingested as garbage.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_BINARY_MAGIC = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"BZh",
    b"\x00\x00\x01\x00",
    b"RIFF",
    b"OggS",
    b"ID3",
    b"\x7fELF",
    b"MZ",
    b"wOFF",
    b"wOF2",
)
_TEXTUAL_TYPES = ("text/", "application/xhtml", "application/xml", "application/rss", "application/atom")


class ExtractionError(Exception):
    """A payload that cannot become text; ``reason`` is the quarantine reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ExtractConfig:
    main_content: bool = True
    max_page_bytes: int = 10 * 1024 * 1024
    max_replacement_ratio: float = 0.05


def _valid_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def check_textual(payload: bytes, content_type: str | None) -> None:
    """Raise :class:`ExtractionError` if the payload is not text, whatever it is labelled."""
    head = payload[:1024]
    if head.startswith(_BINARY_MAGIC):
        raise ExtractionError("binary_content", f"binary magic {head[:4]!r} (labelled {content_type})")
    if b"\x00" in head:
        raise ExtractionError("binary_content", f"NUL bytes in the first KiB (labelled {content_type})")
    if content_type and not content_type.lower().startswith(_TEXTUAL_TYPES):
        raise ExtractionError("non_text_content_type", content_type)


def decode(payload: bytes, http_charset: str | None) -> tuple[str, str]:
    """Decode ``payload`` to text; returns (text, encoding used)."""
    candidates: list[str] = []
    for declared in (http_charset, _meta_charset(payload)):
        codec = _valid_codec(declared)
        if codec and codec not in candidates:
            candidates.append(codec)
    for codec in candidates:
        try:
            return payload.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    sniffed = detect_encoding(payload[:65536]) or "utf-8"
    return bytes_to_str(payload, sniffed, errors="replace", fallback_encodings=("utf-8", "cp1252")), sniffed


def _meta_charset(payload: bytes) -> str | None:
    match = _META_CHARSET.search(payload[:4096])
    return match.group(1).decode("ascii", "ignore") if match else None


def html_to_text(payload: bytes, http_charset: str | None, config: ExtractConfig) -> str:
    if len(payload) > config.max_page_bytes:
        raise ExtractionError("page_too_large", f"{len(payload)} bytes > {config.max_page_bytes}")
    html, _ = decode(payload, http_charset)
    _check_replacements(html, config)
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


_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_BLANKS = re.compile(r"\n{3,}")


def normalise_whitespace(text: str) -> str:
    lines = [
        _SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    ]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()
