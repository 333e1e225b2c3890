"""FineWeb (English): the filtering part of datatrove's ``examples/fineweb.py``, step for step.

    LanguageFilter()                                  # lid.176, English, score > 0.65
    GopherRepetitionFilter()
    GopherQualityFilter()
    C4QualityFilter(filter_no_terminal_punct=False)   # also removes lines (see c4_line_removal)
    FineWebQualityFilter()

Not part of Quarry's ingest: the URL block list (``URLFilter``) and Trafilatura (Quarry extracts with
Resiliparse); both sit before these steps in FineWeb.

Options (the defaults are the reference):

* ``c4_line_removal`` (on): C4 drops lines (javascript, cookie/terms policy, < 3 words, over-long words) and
  FineWeb's last filter judges the remaining lines, as in datatrove. Quarry stores the remaining lines as a new
  version of the document's text next to the original (never in place). Off: the C4 rule only decides
  keep/drop and every later filter judges the original text (Quarry's earlier behaviour).
* ``language_score_inclusive`` (off): keep English at score >= 0.65 instead of datatrove's > 0.65.
* ``min_language_score`` (0.65) and ``languages`` (``("en",)``): change what the language rule keeps.
"""

from __future__ import annotations

from tasks.ingest.filters import C4Rules, FineWebQuality, GopherQuality, GopherRepetition, LanguageFilter
from tasks.ingest.recipes import Recipe


def fineweb(
    *,
    c4_line_removal: bool = True,
    language_score_inclusive: bool = False,
    min_language_score: float = 0.65,
    languages: tuple[str, ...] = ("en",),
) -> Recipe:
    filters = (
        GopherRepetition(),
        GopherQuality(),
        C4Rules(filter_no_terminal_punct=False, remove_lines=c4_line_removal),
        FineWebQuality(),
    )
    return Recipe(
        name="fineweb",
        description="FineWeb English: lid.176 en > 0.65, Gopher repetition + quality, C4, FineWeb quality",
        language=LanguageFilter(
            languages=tuple(languages), min_score=min_language_score, strict=not language_score_inclusive
        ),
        filters=lambda _language: filters,
        options={
            "c4_line_removal": c4_line_removal,
            "language_score_inclusive": language_score_inclusive,
            "min_language_score": min_language_score,
            "languages": list(languages),
        },
    )
