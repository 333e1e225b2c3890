"""FineWeb's own quality rules (Penedo et al. 2024), as datatrove 0.10.1's ``FineWebQualityFilter``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from tasks.ingest.filters.base import DocFilter, TextView, find_duplicates
from tasks.ingest.filters.reference_data import DATATROVE_TERMINAL_PUNCTUATION

TERMINAL_PUNCTUATION: tuple[str, ...] = tuple(sorted(DATATROVE_TERMINAL_PUNCTUATION))


@dataclass(frozen=True)
class FineWebQuality(DocFilter):
    """Lines are the non-blank ``\\n``-separated lines, unstripped. ``char_dup_ratio``: characters of lines
    repeating an earlier line over the characters of the text without newlines."""

    name: ClassVar[str] = "fineweb"
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    stop_chars: tuple[str, ...] = field(default=TERMINAL_PUNCTUATION, repr=False)
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3

    def check(self, doc: TextView) -> str | None:
        lines = doc.nonblank_lines
        if not lines:
            return self.drop("empty")
        ratio = sum(line.endswith(self.stop_chars) for line in lines) / len(lines)
        if ratio < self.line_punct_thr and not (ratio == 0 and self.line_punct_exclude_zero):
            return self.drop("line_punct_ratio")
        ratio = sum(len(line) <= self.short_line_length for line in lines) / len(lines)
        if ratio > self.short_line_thr:
            return self.drop("short_line_ratio")
        text = doc.text
        if find_duplicates(lines)[1] / (len(text) - text.count("\n")) > self.char_duplicates_ratio:
            return self.drop("char_dup_ratio")
        words = doc.words
        if words and text.count("\n") / len(words) > self.new_line_ratio:
            return self.drop("list_ratio")
        return None
