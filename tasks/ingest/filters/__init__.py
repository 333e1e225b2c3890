"""Heuristic quality filters: Gopher quality, Gopher repetition, C4 and FineWeb rules, as datatrove 0.10.1.

Each filter reproduces datatrove's rule and reason string (``bench/bench_filters.py`` measures the agreement on
real text; ``tests/tasks/ingest/test_filters_reference.py`` runs datatrove's own unit cases). Named recipes
(``tasks.ingest.recipes``) choose the filters and thresholds: ``fineweb``, ``fineweb2``.

Modules: :mod:`base` (contract, text views, pipeline), :mod:`words` (spaCy's English word and sentence split,
without spaCy), :mod:`gopher`, :mod:`c4`, :mod:`fineweb`, :mod:`language`.
"""

from __future__ import annotations

from tasks.ingest.filters.base import (
    NO_SPACE_LANGUAGES,
    DocFilter,
    FilterPipeline,
    FilterStats,
    TextView,
    find_duplicates,
)
from tasks.ingest.filters.c4 import C4Rules
from tasks.ingest.filters.fineweb import TERMINAL_PUNCTUATION, FineWebQuality
from tasks.ingest.filters.gopher import ENGLISH_STOP_WORDS, GopherQuality, GopherRepetition
from tasks.ingest.filters.language import LanguageFilter
from tasks.ingest.filters.words import count_sentences, split_words

__all__ = [
    "ENGLISH_STOP_WORDS",
    "NO_SPACE_LANGUAGES",
    "TERMINAL_PUNCTUATION",
    "C4Rules",
    "DocFilter",
    "FilterPipeline",
    "FilterStats",
    "FineWebQuality",
    "GopherQuality",
    "GopherRepetition",
    "LanguageFilter",
    "TextView",
    "count_sentences",
    "find_duplicates",
    "heuristic_attributes",
    "split_words",
]


def heuristic_attributes(doc: TextView) -> dict[str, float | int]:
    """Per-document statistics kept as the ``heuristics`` attribute set (cheap, reusable for mixing)."""
    lines = doc.nonblank_lines
    words = doc.words
    dup_lines, dup_chars = find_duplicates(lines)
    line_chars = sum(map(len, lines))
    return {
        "n_words": len(words),
        "n_lines": len(lines),
        "mean_word_length": (sum(map(len, words)) / len(words)) if words else 0.0,
        "frac_lines_terminal_punct": (
            sum(line.endswith(TERMINAL_PUNCTUATION) for line in lines) / len(lines) if lines else 0.0
        ),
        "dup_line_frac": dup_lines / len(lines) if lines else 0.0,
        "dup_line_char_frac": dup_chars / line_chars if line_chars else 0.0,
    }
