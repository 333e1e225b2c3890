"""Gopher quality and repetition rules (Rae et al. 2021, table A1), as datatrove 0.10.1 implements them.

Each rule and each reason string is datatrove's; a threshold set to ``None`` or ``0`` disables its rule, as in
datatrove (``if self.threshold and ...``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from tasks.ingest.filters.base import DocFilter, TextView, find_duplicates
from tasks.ingest.filters.reference_data import DATATROVE_PUNCTUATION, DATATROVE_TERMINAL_PUNCTUATION

# datatrove's PUNCTUATION_SET: a word made only of these characters is a "symbol" word.
_PUNCTUATION_CHARS = "".join(sorted(set(DATATROVE_PUNCTUATION) | DATATROVE_TERMINAL_PUNCTUATION))
ENGLISH_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
_HAS_ALPHA = re.compile(r"[^\W\d_]")


def _has_alpha(word: str) -> bool:
    return word.isalpha() or _HAS_ALPHA.search(word) is not None


@dataclass(frozen=True)
class GopherQuality(DocFilter):
    """datatrove's ``GopherQualityFilter``. Words are spaCy tokens (punctuation marks are words too); the length
    rules count only words with a character outside datatrove's punctuation set; stop words are matched
    case-sensitively and must be ``min_stop_words`` *distinct* ones."""

    name: ClassVar[str] = "gopher_quality"
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = (
        0.8  # datatrove's name: the minimum share of words with a letter
    )
    min_stop_words: int | None = 2
    stop_words: frozenset[str] = ENGLISH_STOP_WORDS

    def check(self, doc: TextView) -> str | None:
        text = doc.text
        words = doc.words
        n_words = len(words)
        non_symbol = [w for w in words if w.strip(_PUNCTUATION_CHARS)]
        n_non_symbol = len(non_symbol)
        if self.min_doc_words and n_non_symbol < self.min_doc_words:
            return self.drop("gopher_short_doc")
        if self.max_doc_words and n_non_symbol > self.max_doc_words:
            return self.drop("gopher_long_doc")
        avg = sum(map(len, non_symbol)) / n_non_symbol if n_non_symbol else float("nan")
        if self.min_avg_word_length and avg < self.min_avg_word_length:
            return self.drop("gopher_below_avg_threshold")
        if self.max_avg_word_length and avg > self.max_avg_word_length:
            return self.drop("gopher_above_avg_threshold")
        if not n_words:
            return None  # datatrove divides by zero here; only reachable with min_doc_words disabled
        if self.max_symbol_word_ratio and text.count("#") / n_words > self.max_symbol_word_ratio:
            return self.drop("gopher_too_many_hashes")
        if (
            self.max_symbol_word_ratio
            and (text.count("...") + text.count("…")) / n_words > self.max_symbol_word_ratio
        ):
            return self.drop("gopher_too_many_ellipsis")
        lines = doc.splitlines
        if lines:
            if (
                self.max_bullet_lines_ratio
                and sum(s.lstrip().startswith(("•", "-")) for s in lines) / len(lines)
                > self.max_bullet_lines_ratio
            ):
                return self.drop("gopher_too_many_bullets")
            if (
                self.max_ellipsis_lines_ratio
                and sum(s.rstrip().endswith(("...", "…")) for s in lines) / len(lines)
                > self.max_ellipsis_lines_ratio
            ):
                return self.drop("gopher_too_many_end_ellipsis")
        if (
            self.max_non_alpha_words_ratio
            and sum(map(_has_alpha, words)) / n_words < self.max_non_alpha_words_ratio
        ):
            return self.drop("gopher_below_alpha_threshold")
        if self.min_stop_words and len(self.stop_words.intersection(words)) < self.min_stop_words:
            return self.drop("gopher_enough_stop_words")
        return None


class NGrams:
    """The word n-grams of one document as 64-bit hashes (numpy), so that the counting the repetition rules
    need runs in C. As in datatrove, the top n-gram rule compares n-grams by their words and the duplicate
    n-gram rule by their words' characters run together (``("ab", "c")`` equals ``("a", "bc")``); a 64-bit hash
    collision between two different n-grams of one document is the only way the two can differ."""

    _MULT = np.uint64(0x9E3779B97F4A7C15)
    _CHAR_MULT = 0x100000001B3  # odd, so invertible modulo 2**64
    _CHAR_INV = pow(_CHAR_MULT, -1, 2**64)

    def __init__(self, words: Sequence[str]) -> None:
        ids: dict[str, int] = {}
        self.ids = np.fromiter(
            (ids.setdefault(w, len(ids)) for w in words), dtype=np.uint64, count=len(words)
        ) + np.uint64(1)
        self.cum = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=len(words)), out=self.cum[1:])
        self._n = 1
        self._hash = self.ids.copy()
        self._text = "".join(words)

    @cached_property
    def _char_prefix(self) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        """(P**k, prefix sums of c_j * P**-j) over the words' characters run together, modulo 2**64."""
        codes = np.frombuffer(self._text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(
            np.uint64
        )
        size = len(codes)
        with np.errstate(over="ignore"):
            powers = np.empty(size + 1, dtype=np.uint64)
            powers[0] = 1
            inv = np.empty(size + 1, dtype=np.uint64)
            inv[0] = 1
            if size:
                powers[1:] = np.uint64(self._CHAR_MULT)
                inv[1:] = np.uint64(self._CHAR_INV)
                np.multiply.accumulate(powers, out=powers)
                np.multiply.accumulate(inv, out=inv)
            prefix = np.zeros(size + 1, dtype=np.uint64)
            np.cumsum((codes + np.uint64(1)) * inv[:size], out=prefix[1:])
        return powers, prefix

    def joined_hashes(self, n: int) -> npt.NDArray[np.uint64]:
        """Hash of the characters of each n-gram's words run together (and of their length)."""
        powers, prefix = self._char_prefix
        with np.errstate(over="ignore"):
            start = self.cum[: len(self.cum) - n]
            end = self.cum[n:]
            # sum over j in [start, end) of c_j * P**(end - 1 - j) = P**(end - 1) * (prefix[end] - prefix[start])
            lengths = (end - start).astype(np.uint64)
            hashed: npt.NDArray[np.uint64] = (
                powers[end] * (prefix[end] - prefix[start]) + lengths * self._MULT
            )
            return hashed

    def hashes(self, n: int) -> npt.NDArray[np.uint64]:
        """Hash of the n-gram starting at each position (n must not decrease between calls)."""
        if n < self._n:
            self._n, self._hash = 1, self.ids.copy()
        with np.errstate(over="ignore"):
            while self._n < n:
                self._hash = self._hash[:-1] * self._MULT + self.ids[self._n :]
                self._n += 1
        return self._hash

    def chars(self, start: npt.NDArray[np.int64] | int, n: int) -> Any:
        """Characters of the words of the n-gram(s) starting at ``start`` (without separators)."""
        return self.cum[np.asarray(start) + n] - self.cum[start]

    def top_chars(self, n: int) -> int:
        """datatrove's ``find_top_duplicate``: characters of the most frequent n-gram joined by spaces, times its
        count (a single occurrence counts too; ties go to the n-gram seen first)."""
        h = self.hashes(n)
        _, first, counts = np.unique(h, return_index=True, return_counts=True)
        best = counts.max()
        start = int(first[counts == best].min())
        return (int(self.chars(start, n)) + n - 1) * int(best)

    def dup_chars(self, n: int) -> int:
        """datatrove's ``find_all_duplicate``: characters (without separators) of n-grams that repeat an earlier
        one, scanning left to right and jumping past each repeat. Only n-grams occurring more than once can be
        repeats, so the scan visits just their positions: one is skipped when a repeat ended less than ``n``
        words before it, and is a repeat when an earlier occurrence of its n-gram was visited."""
        if len(self.cum) - 1 < n:
            return 0
        h = self.joined_hashes(n)
        _, inverse, counts = np.unique(h, return_inverse=True, return_counts=True)
        if len(counts) == len(h):
            return 0
        candidates = np.flatnonzero(counts[inverse] > 1)
        groups = inverse[candidates].tolist()
        lengths = self.chars(candidates, n).tolist()
        seen: set[int] = set()
        repeated = skip_until = 0
        for idx, group, length in zip(candidates.tolist(), groups, lengths, strict=True):
            if idx < skip_until:
                continue
            if group in seen:
                repeated += length
                skip_until = idx + n
            else:
                seen.add(group)
        return repeated


_PARAGRAPH = re.compile(r"\n{2,}")
_LINES = re.compile("\n+")


@dataclass(frozen=True)
class GopherRepetition(DocFilter):
    """datatrove's ``GopherRepetitionFilter``: every fraction is over the full text length (``len(text)``),
    the duplicated n-gram fraction counts only the repeats."""

    name: ClassVar[str] = "gopher_repetition"
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = (
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    )

    def check(self, doc: TextView) -> str | None:
        text = doc.text
        size = len(text)
        if not size:
            return None
        paragraphs = _PARAGRAPH.split(text.strip())
        dup, dup_chars = find_duplicates(paragraphs)
        if self.dup_para_frac and dup / len(paragraphs) > self.dup_para_frac:
            return self.drop("dup_para_frac")
        if self.dup_para_char_frac and dup_chars / size > self.dup_para_char_frac:
            return self.drop("dup_para_char_frac")
        lines = _LINES.split(text)
        dup, dup_chars = find_duplicates(lines)
        if self.dup_line_frac and dup / len(lines) > self.dup_line_frac:
            return self.drop("dup_line_frac")
        if self.dup_line_char_frac and dup_chars / size > self.dup_line_char_frac:
            return self.drop("dup_line_char_frac")
        words = doc.words
        grams = NGrams(words)
        for n, limit in sorted(self.top_n_grams):
            if len(words) < n:
                continue
            if grams.top_chars(n) / size > limit:
                return self.drop(f"top_{n}_gram")
        for n, limit in sorted(self.dup_n_grams):
            if len(words) >= n and grams.dup_chars(n) / size > limit:
                return self.drop(f"duplicated_{n}_n_grams")
        return None
