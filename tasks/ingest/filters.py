"""Heuristic quality filters: Gopher quality, Gopher repetition, C4 and FineWeb rules.

The step contract (after datatrove): a filter's :meth:`DocFilter.check` returns ``None`` to keep a document or
a short drop reason (``"gopher_quality:too_few_words"``). :class:`FilterPipeline` runs the filters in order,
stops at the first drop, and counts keeps, drops per reason and time per filter, so every removed document
is accounted for. Thresholds are the published defaults and each is configurable.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

# Stop words used by Gopher's "has at least k stop words" rule; per language, so non-English pages are
# judged by their own language (the rule is skipped for languages not listed).
STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset({"the", "be", "to", "of", "and", "that", "have", "with"}),
    "de": frozenset({"der", "die", "und", "das", "ist", "zu", "den", "mit", "nicht", "von", "sie", "ein"}),
    "fr": frozenset({"le", "la", "de", "et", "les", "des", "est", "un", "une", "du", "que", "pour"}),
    "es": frozenset({"el", "la", "de", "que", "y", "en", "los", "se", "del", "las", "un", "por"}),
    "it": frozenset({"il", "di", "che", "e", "la", "per", "un", "in", "non", "del", "una", "sono"}),
    "nl": frozenset({"de", "het", "een", "en", "van", "is", "dat", "op", "te", "niet", "met", "voor"}),
    "pt": frozenset({"o", "a", "de", "que", "e", "do", "da", "em", "um", "para", "com", "não"}),
    "pl": frozenset({"i", "w", "nie", "na", "się", "z", "jest", "to", "że", "do", "jak", "ale"}),
}
# Languages written without spaces between words: word-based rules do not apply to them.
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "wuu", "yue"})

TERMINAL_PUNCT = (".", "!", "?", '"', "'", "”", "’", "。", "！", "？", "…", ":", ";")
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "►", "➢", "✓")
_WORD = re.compile(r"\w+", re.UNICODE)


class TextView:
    """Derived views of one document's text, computed lazily and shared by all filters."""

    def __init__(self, text: str, language: str = "und") -> None:
        self.text = text
        self.language = language

    @cached_property
    def lines(self) -> list[str]:
        return [line for line in self.text.split("\n") if line.strip()]

    @cached_property
    def paragraphs(self) -> list[str]:
        return [p for p in re.split(r"\n\s*\n", self.text) if p.strip()]

    @cached_property
    def words(self) -> list[str]:
        return self.text.split()

    @cached_property
    def alpha_words(self) -> list[str]:
        return _WORD.findall(self.text.lower())

    @property
    def spaced(self) -> bool:
        return self.language not in NO_SPACE_LANGUAGES


class DocFilter:
    """Base class: subclasses set ``name`` and implement ``check``."""

    name: ClassVar[str] = "filter"

    def check(self, doc: TextView) -> str | None:
        raise NotImplementedError

    def drop(self, reason: str) -> str:
        return f"{self.name}:{reason}"


def _dup_stats(items: Sequence[str]) -> tuple[float, float]:
    """(fraction of items that repeat an earlier one, fraction of characters in such repeats)."""
    if not items:
        return 0.0, 0.0
    seen: set[str] = set()
    dup_items = dup_chars = total_chars = 0
    for item in items:
        total_chars += len(item)
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    return dup_items / len(items), (dup_chars / total_chars if total_chars else 0.0)


def _top_ngram_char_frac(words: Sequence[str], n: int) -> float:
    if len(words) < n:
        return 0.0
    grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    gram, count = grams.most_common(1)[0]
    if count <= 1:
        return 0.0
    total = sum(len(w) for w in words)
    return (sum(len(w) for w in gram) * count) / total if total else 0.0


def _dup_ngram_char_frac(words: Sequence[str], n: int) -> float:
    """Share of characters covered by n-grams that occur more than once (Gopher), overlaps counted once."""
    if len(words) < n:
        return 0.0
    positions: dict[tuple[str, ...], int] = {}
    covered = bytearray(len(words))
    for i in range(len(words) - n + 1):
        gram = tuple(words[i : i + n])
        first = positions.setdefault(gram, i)
        if first != i:
            covered[first : first + n] = b"\x01" * n
            covered[i : i + n] = b"\x01" * n
    total = sum(len(w) for w in words)
    dup = sum(len(w) for w, c in zip(words, covered, strict=True) if c)
    return dup / total if total else 0.0


@dataclass(frozen=True)
class GopherQuality(DocFilter):
    name: ClassVar[str] = "gopher_quality"
    min_words: int = 50
    max_words: int = 100_000
    min_avg_word_length: float = 3.0
    max_avg_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    max_non_alpha_words_ratio: float = 0.8  # at least this share of words must contain a letter
    min_stop_words: int = 2

    def check(self, doc: TextView) -> str | None:
        if not doc.spaced:
            return None if len(doc.text) >= self.min_words * 2 else self.drop("too_short")
        words = doc.words
        n = len(words)
        if n < self.min_words:
            return self.drop("too_few_words")
        if n > self.max_words:
            return self.drop("too_many_words")
        avg = sum(len(w) for w in words) / n
        if avg < self.min_avg_word_length:
            return self.drop("short_average_word")
        if avg > self.max_avg_word_length:
            return self.drop("long_average_word")
        symbols = doc.text.count("#") + doc.text.count("...") + doc.text.count("…")
        if symbols / n > self.max_symbol_word_ratio:
            return self.drop("symbol_word_ratio")
        lines = doc.lines
        if lines:
            if (
                sum(line.lstrip().startswith(BULLETS) for line in lines) / len(lines)
                > self.max_bullet_lines_ratio
            ):
                return self.drop("bullet_lines")
            ellipsis = sum(line.rstrip().endswith(("...", "…")) for line in lines)
            if ellipsis / len(lines) > self.max_ellipsis_lines_ratio:
                return self.drop("ellipsis_lines")
        if sum(any(c.isalpha() for c in w) for w in words) / n < self.max_non_alpha_words_ratio:
            return self.drop("non_alpha_words")
        stop = STOP_WORDS.get(doc.language)
        if stop is not None and sum(w in stop for w in doc.alpha_words) < self.min_stop_words:
            return self.drop("few_stop_words")
        return None


@dataclass(frozen=True)
class GopherRepetition(DocFilter):
    name: ClassVar[str] = "gopher_repetition"
    max_dup_line_frac: float = 0.3
    max_dup_para_frac: float = 0.3
    max_dup_line_char_frac: float = 0.2
    max_dup_para_char_frac: float = 0.2
    top_ngrams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_ngrams: tuple[tuple[int, float], ...] = (
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    )

    def check(self, doc: TextView) -> str | None:
        para_frac, para_char = _dup_stats(doc.paragraphs)
        if para_frac > self.max_dup_para_frac:
            return self.drop("dup_para_frac")
        if para_char > self.max_dup_para_char_frac:
            return self.drop("dup_para_char_frac")
        line_frac, line_char = _dup_stats(doc.lines)
        if line_frac > self.max_dup_line_frac:
            return self.drop("dup_line_frac")
        if line_char > self.max_dup_line_char_frac:
            return self.drop("dup_line_char_frac")
        if not doc.spaced:
            return None
        words = doc.alpha_words
        for n, limit in self.top_ngrams:
            if _top_ngram_char_frac(words, n) > limit:
                return self.drop(f"top_{n}gram")
        for n, limit in self.dup_ngrams:
            if _dup_ngram_char_frac(words, n) > limit:
                return self.drop(f"dup_{n}gram")
        return None


@dataclass(frozen=True)
class C4Rules(DocFilter):
    """C4's document-level rules (line-level cleaning is left to extraction: text is never rewritten here)."""

    name: ClassVar[str] = "c4"
    drop_lorem_ipsum: bool = True
    drop_curly_bracket: bool = True
    drop_javascript_notice: bool = True
    min_sentences: int = 3
    max_policy_lines_ratio: float = 0.5

    _POLICY: ClassVar[tuple[str, ...]] = (
        "terms of use",
        "privacy policy",
        "cookie policy",
        "uses cookies",
        "use of cookies",
        "use cookies",
    )
    _SENTENCE: ClassVar[re.Pattern[str]] = re.compile(r"[.!?。！？]+(?:\s|$)")

    def check(self, doc: TextView) -> str | None:
        lower = doc.text.lower()
        if self.drop_lorem_ipsum and "lorem ipsum" in lower:
            return self.drop("lorem_ipsum")
        if self.drop_curly_bracket and "{" in doc.text:
            return self.drop("curly_bracket")
        if (
            self.drop_javascript_notice
            and ("enable javascript" in lower or "javascript is disabled" in lower)
            and (len(doc.lines) < 5)
        ):
            return self.drop("javascript_notice")
        if doc.lines:
            policy = sum(any(p in line.lower() for p in self._POLICY) for line in doc.lines)
            if policy / len(doc.lines) > self.max_policy_lines_ratio:
                return self.drop("policy_lines")
        if len(self._SENTENCE.findall(doc.text)) < self.min_sentences:
            return self.drop("too_few_sentences")
        return None


@dataclass(frozen=True)
class FineWebQuality(DocFilter):
    name: ClassVar[str] = "fineweb"
    min_line_punct_ratio: float = 0.12
    max_short_line_ratio: float = 0.67
    short_line_chars: int = 30
    max_char_dup_ratio: float = 0.01
    max_newline_word_ratio: float = 0.3

    def check(self, doc: TextView) -> str | None:
        lines = doc.lines
        if not lines:
            return self.drop("empty")
        if (
            sum(line.rstrip().endswith(TERMINAL_PUNCT) for line in lines) / len(lines)
            < self.min_line_punct_ratio
        ):
            return self.drop("line_punct_ratio")
        if sum(len(line) <= self.short_line_chars for line in lines) / len(lines) > self.max_short_line_ratio:
            return self.drop("short_line_ratio")
        _, dup_chars = _dup_stats(lines)
        non_ws = len(doc.text.replace(" ", "").replace("\n", ""))
        dup_line_chars = dup_chars * sum(len(line) for line in lines)
        if non_ws and dup_line_chars / non_ws > self.max_char_dup_ratio:
            return self.drop("char_dup_ratio")
        if doc.spaced and doc.words and doc.text.count("\n") / len(doc.words) > self.max_newline_word_ratio:
            return self.drop("list_ratio")
        return None


@dataclass(frozen=True)
class LanguageFilter(DocFilter):
    name: ClassVar[str] = "language"
    languages: tuple[str, ...] = ()  # empty: any language
    min_score: float = 0.0

    def check(self, doc: TextView) -> str | None:
        raise NotImplementedError("LanguageFilter is applied with the language score; see check_language")

    def check_language(self, language: str, score: float) -> str | None:
        if self.languages and language not in self.languages:
            return self.drop("not_wanted")
        if score < self.min_score:
            return self.drop("low_score")
        return None


@dataclass
class FilterStats:
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def as_dict(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "seconds": {k: round(v, 6) for k, v in sorted(self.seconds.items())},
        }


class FilterPipeline:
    def __init__(self, filters: Sequence[DocFilter]) -> None:
        self.filters = list(filters)
        self.stats = FilterStats()

    def __call__(self, doc: TextView) -> str | None:
        for flt in self.filters:
            start = time.perf_counter()
            reason = flt.check(doc)
            self.stats.seconds[flt.name] += time.perf_counter() - start
            if reason is not None:
                self.stats.dropped[reason] += 1
                return reason
        self.stats.kept += 1
        return None


def heuristic_attributes(doc: TextView) -> dict[str, float | int]:
    """Per-document statistics kept as the ``heuristics`` attribute set (cheap, reusable for mixing)."""
    lines = doc.lines
    words = doc.words
    line_frac, line_char = _dup_stats(lines)
    return {
        "n_words": len(words),
        "n_lines": len(lines),
        "mean_word_length": (sum(len(w) for w in words) / len(words)) if words else 0.0,
        "frac_lines_terminal_punct": (
            sum(line.rstrip().endswith(TERMINAL_PUNCT) for line in lines) / len(lines) if lines else 0.0
        ),
        "dup_line_frac": line_frac,
        "dup_line_char_frac": line_char,
    }
