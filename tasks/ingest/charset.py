"""How a page's bytes become text, and whether they are text at all.

The order follows the WHATWG HTML encoding sniffing algorithm, simplified:

1. A byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE) wins over any declaration.
2. The HTTP ``Content-Type`` charset, then a ``<meta charset>`` / ``http-equiv`` declaration in the first
   4 KiB, each tried strictly. A declared UTF-16/32 is believed only where the bytes look like it (NUL bytes
   in the first KiB); in ASCII-compatible bytes it means UTF-8, as browsers read it.
3. Bytes that are valid UTF-8 are UTF-8. (resiliparse's sniffer takes UTF-8 pages with few non-ASCII
   letters for cp1252 or iso8859-11: 35 of the 847 non-ASCII UTF-8 trafilatura evaluation pages once their
   declaration is removed, i.e. mojibake such as ``â€”``.)
4. BOM-less UTF-16 (NUL bytes at every other position of mostly-ASCII text).
5. Otherwise the sniffer's guess, with replacement characters where it is wrong.

A page whose first KiB holds NUL bytes is binary unless it is UTF-16/32 text by (1), (2) or (4).
"""

from __future__ import annotations

import codecs
import re

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
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})


class ExtractionError(Exception):
    """A payload that cannot become text; ``reason`` is the quarantine reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _valid_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def _meta_charset(payload: bytes) -> str | None:
    match = _META_CHARSET.search(payload[:4096])
    return match.group(1).decode("ascii", "ignore") if match else None


def _bom(payload: bytes) -> tuple[str, int] | None:
    for mark, codec in _BOMS:
        if payload.startswith(mark):
            return codec, len(mark)
    return None


def _bomless_utf16(head: bytes) -> str | None:
    """``utf-16-le``/``-be`` if NUL bytes sit at (nearly) every other position of the head, else None."""
    pairs = len(head) // 2
    if pairs < 8:
        return None
    even = head[0 : 2 * pairs : 2].count(0)
    odd = head[1 : 2 * pairs : 2].count(0)
    if odd >= 0.4 * pairs and even <= 0.05 * pairs:
        return "utf-16-le"
    if even >= 0.4 * pairs and odd <= 0.05 * pairs:
        return "utf-16-be"
    return None


def _wide_codec(declared: str, head: bytes) -> str:
    """A declared UTF-16/32 given a byte order: from the NUL positions of the (BOM-less) head."""
    if declared.endswith(("-le", "-be")):
        return declared
    big_endian = head[:1] == b"\x00"
    return f"{declared}-be" if big_endian else f"{declared}-le"


def _declared(payload: bytes, http_charset: str | None) -> list[str]:
    """Codecs to try strictly, in order: the HTTP charset, then the page's own declaration."""
    head = payload[:1024]
    wide_bytes = b"\x00" in head
    out: list[str] = []
    for declared in (http_charset, _meta_charset(payload)):
        codec = _valid_codec(declared)
        if codec in _WIDE:
            codec = _wide_codec(codec, head) if wide_bytes else "utf-8"
        if codec and codec not in out:
            out.append(codec)
    return out


def is_wide_text(payload: bytes, charset: str | None) -> bool:
    """Whether NUL bytes in the payload are explained by UTF-16/32 (BOM, declared charset, or layout)."""
    found = _bom(payload)
    if found is not None:
        return found[0] != "utf-8"
    return _valid_codec(charset) in _WIDE or _bomless_utf16(payload[:1024]) is not None


def check_textual(payload: bytes, content_type: str | None, charset: str | None = None) -> None:
    """Raise :class:`ExtractionError` if the payload is not text, whatever it is labelled."""
    head = payload[:1024]
    if head.startswith(_BINARY_MAGIC):
        raise ExtractionError("binary_content", f"binary magic {head[:4]!r} (labelled {content_type})")
    if b"\x00" in head and not is_wide_text(payload, charset):
        raise ExtractionError("binary_content", f"NUL bytes in the first KiB (labelled {content_type})")
    if content_type and not content_type.lower().startswith(_TEXTUAL_TYPES):
        raise ExtractionError("non_text_content_type", content_type)


def decode(payload: bytes, http_charset: str | None) -> tuple[str, str]:
    """Decode ``payload`` to text; returns (text, encoding used)."""
    found = _bom(payload)
    if found is not None:
        codec, skip = found
        return payload[skip:].decode(codec, "replace"), codec
    candidates = _declared(payload, http_charset)
    for codec in candidates:
        try:
            return payload.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    if "utf-8" not in candidates:
        try:
            return payload.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    wide = _bomless_utf16(payload[:1024])
    if wide is not None:
        return payload.decode(wide, "replace"), wide
    sniffed = detect_encoding(payload[:65536]) or "utf-8"
    return bytes_to_str(payload, sniffed, errors="replace", fallback_encodings=("utf-8", "cp1252")), sniffed
