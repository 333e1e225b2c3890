"""Typed, validated configuration of the ingest stage (validated once, at construction)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tasks.ingest.extract import ExtractConfig
from tasks.ingest.filters import (
    C4Rules,
    DocFilter,
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
    LanguageFilter,
)
from tasks.storage import validate_name

FILTERS: dict[str, type[DocFilter]] = {
    "gopher_quality": GopherQuality,
    "gopher_repetition": GopherRepetition,
    "c4": C4Rules,
    "fineweb": FineWebQuality,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FilterConfig(_Frozen):
    """Which heuristic filters run, in order, and overrides of their thresholds."""

    enabled: tuple[str, ...] = ("gopher_quality", "gopher_repetition", "c4", "fineweb")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    languages: tuple[str, ...] = ()
    min_language_score: float = Field(0.0, ge=0.0, le=1.0)

    @field_validator("enabled")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in FILTERS]
        if unknown:
            raise ValueError(f"unknown filter(s) {unknown}; known: {sorted(FILTERS)}")
        return value

    def build(self) -> list[DocFilter]:
        out: list[DocFilter] = []
        for name in self.enabled:
            try:
                out.append(FILTERS[name](**self.params.get(name, {})))
            except TypeError as exc:
                raise ValueError(f"bad parameters for filter {name}: {exc}") from exc
        return out

    def language_filter(self) -> LanguageFilter:
        return LanguageFilter(languages=self.languages, min_score=self.min_language_score)


class DedupConfig(_Frozen):
    """Exact (normalised-text hash) and fuzzy (MinHash LSH) dedup; FineWeb's defaults."""

    exact: bool = True
    fuzzy: bool = True
    shingle_words: int = Field(5, ge=1)
    bands: int = Field(14, ge=1)
    rows: int = Field(8, ge=1)
    seed: int = 1
    cross_snapshot: bool = True

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows


class ExtractSettings(_Frozen):
    main_content: bool = True
    max_page_bytes: int = Field(10 * 1024 * 1024, gt=0)
    max_replacement_ratio: float = Field(0.05, ge=0.0, le=1.0)
    # "quarry": Resiliparse + Quarry's precision stage (tasks/ingest/boilerplate.py); "resiliparse": alone.
    boilerplate: Literal["quarry", "resiliparse"] = "quarry"

    def build(self) -> ExtractConfig:
        return ExtractConfig(
            self.main_content, self.max_page_bytes, self.max_replacement_ratio, boilerplate=self.boilerplate
        )


class IngestConfig(_Frozen):
    """Everything the ingest stage needs. ``input`` is a snapshot root (Common Crawl layout
    ``crawl-data/<snapshot>/segments/<segment>/{warc,wet}/*.gz``), a flat folder, or one file; local or s3://."""

    input: str
    store: str
    snapshot: str | None = None
    extract: ExtractSettings = ExtractSettings()
    filters: FilterConfig = FilterConfig()
    dedup: DedupConfig = DedupConfig()
    workers: int | None = Field(None, ge=0)
    scheduler: str | None = None

    @field_validator("snapshot")
    @classmethod
    def _snapshot_name(cls, value: str | None) -> str | None:
        return None if value is None else validate_name(value, "snapshot")
