"""Language rule: keep documents whose language ID (fastText lid.176) is wanted with a high enough score."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from tasks.ingest.filters.base import DocFilter, TextView


@dataclass(frozen=True)
class LanguageFilter(DocFilter):
    """``languages`` empty: any language. ``min_score``: the threshold (``per_language`` overrides it per
    language, FineWeb2-style). ``strict``: the score must be above the threshold (datatrove's
    ``LanguageFilter``: ``score > language_threshold``) rather than at least it (FineWeb2's per-language
    ``language_score >= threshold``)."""

    name: ClassVar[str] = "language"
    languages: tuple[str, ...] = ()
    min_score: float = 0.0
    per_language: Mapping[str, float] = field(default_factory=dict)
    strict: bool = False

    def check(self, doc: TextView) -> str | None:
        raise NotImplementedError("LanguageFilter is applied with the language score; see check_language")

    def threshold(self, language: str) -> float:
        return self.per_language.get(language, self.min_score)

    def check_language(self, language: str, score: float) -> str | None:
        if self.languages and language not in self.languages:
            return self.drop("not_wanted")
        limit = self.threshold(language)
        if (score <= limit and limit > 0) if self.strict else score < limit:
            return self.drop("low_score")
        return None
