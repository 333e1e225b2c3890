"""Typed, validated configuration of the ingest stage (validated once, at construction)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tasks.ingest.boilerplate.site import SiteRepeatConfig
from tasks.ingest.extract import ExtractConfig
from tasks.ingest.filters import DocFilter, FilterPipeline, LanguageFilter
from tasks.ingest.recipes import DEFAULT_RECIPE, RECIPES, Recipe, get_recipe
from tasks.storage import validate_name


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FilterConfig(_Frozen):
    """The filtering recipe by name (``tasks.ingest.recipes``: ``fineweb``, ``fineweb2``) and overrides.

    ``options``: the recipe's named options (e.g. ``{"c4_line_removal": False}`` for ``fineweb``).
    ``enabled``: run only these of the recipe's rules, by name, ``"language"`` being the language rule (None:
    all; ``()``: keep every document). ``params``: threshold overrides
    per filter name. ``languages`` / ``min_language_score``: replace the recipe's language rule (None: keep it;
    a score replaces every per-language threshold).
    The default, ``fineweb2``, fits the demo's bilingual (German + English) sample snapshot: each language is
    judged with FineWeb2's thresholds for it; ``fineweb`` is FineWeb's English recipe.
    """

    recipe: str = DEFAULT_RECIPE
    options: dict[str, Any] = Field(default_factory=dict)
    enabled: tuple[str, ...] | None = None
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    languages: tuple[str, ...] | None = None
    min_language_score: float | None = Field(None, ge=0.0, le=1.0)

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, value: str) -> str:
        if value not in RECIPES:
            raise ValueError(f"unknown recipe {value!r}; known: {sorted(RECIPES)}")
        return value

    @model_validator(mode="after")
    def _buildable(self) -> FilterConfig:
        recipe = self.build_recipe()
        names = {f.name for f in recipe.filters_for("en")} | {"language"}
        unknown = [name for name in (self.enabled or ()) if name not in names]
        unknown += [name for name in self.params if name not in names]
        if unknown:
            raise ValueError(
                f"unknown filter(s) {sorted(set(unknown))} for recipe {self.recipe}; known: {sorted(names)}"
            )
        self.build()
        return self

    def build_recipe(self) -> Recipe:
        return get_recipe(self.recipe, **self.options)

    def _customise(self, filters: Sequence[DocFilter]) -> tuple[DocFilter, ...]:
        out = []
        for flt in filters:
            if self.enabled is not None and flt.name not in self.enabled:
                continue
            overrides = self.params.get(flt.name)
            if overrides:
                try:
                    flt = replace(flt, **overrides)  # type: ignore[type-var]
                except TypeError as exc:
                    raise ValueError(f"bad parameters for filter {flt.name}: {exc}") from exc
            out.append(flt)
        return tuple(out)

    def build(self, language: str = "en") -> list[DocFilter]:
        """The filters run on documents in ``language``, in order."""
        return list(self._customise(self.build_recipe().filters_for(language)))

    def pipeline(self) -> FilterPipeline:
        recipe = self.build_recipe()
        if self.enabled is None and not self.params:
            return recipe.pipeline()
        cache: dict[str, tuple[DocFilter, ...]] = {}

        def filters_for(language: str) -> tuple[DocFilter, ...]:
            if language not in cache:
                cache[language] = self._customise(recipe.filters_for(language))
            return cache[language]

        return FilterPipeline(filters_for, name=recipe.name)

    def language_filter(self) -> LanguageFilter:
        if self.enabled is not None and "language" not in self.enabled:
            return LanguageFilter()  # the language rule is switched off: keep every language
        rule = self.build_recipe().language
        if self.languages is not None:
            rule = replace(rule, languages=tuple(self.languages))
        if self.min_language_score is not None:
            rule = replace(rule, min_score=self.min_language_score, per_language={})
        return rule

    def describe(self) -> dict[str, Any]:
        """The recipe and overrides, as recorded in the ingest stats."""
        out = self.build_recipe().describe()
        if self.enabled is not None:
            out["enabled"] = list(self.enabled)
        if self.params:
            out["params"] = self.params
        if self.languages is not None:
            out["languages"] = list(self.languages)
        if self.min_language_score is not None:
            out["min_language_score"] = self.min_language_score
        return out


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
    # "quarry": Resiliparse + Quarry's precision stage (tasks/ingest/boilerplate/); "resiliparse": alone.
    boilerplate: Literal["quarry", "resiliparse"] = "quarry"
    # lines on at least this many pages of one host in a shard are site template (0: off; "quarry" only)
    site_repeat_min_pages: int = Field(3, ge=0)

    def build(self) -> ExtractConfig:
        return ExtractConfig(
            self.main_content,
            self.max_page_bytes,
            self.max_replacement_ratio,
            boilerplate=self.boilerplate,
            site_repeat=SiteRepeatConfig(min_pages=self.site_repeat_min_pages),
        )


class InputSelection(_Frozen):
    """Which files of the input are ingested; none of it changes how one file is processed (it is not part
    of a shard's version). See ``tasks/ingest/commoncrawl.py``.

    ``crawl_format``: a root holding WARC and WET of the same captures is ingested in one format only:
    ``auto`` takes WARC when there is any (Quarry extracts text itself), else WET; ``warc`` / ``wet`` take
    only that format. JSONL files are always taken. ``use_listing``: select the files of a Common Crawl
    snapshot from its published ``crawl-data/<id>/{warc,wet}.paths.gz`` instead of listing the store.
    ``sample_files`` / ``sample_fraction``: a deterministic sample by a hash of each file's capture name,
    ``sample_seed`` and the snapshot: the same files whatever the listing order, the same captures in WARC
    and WET, and a bigger sample holds a smaller one. ``list_page_size``: keys per S3 listing call (pages
    are streamed). ``file_retries`` / ``retry_delay_s``: a file that cannot be opened or read is tried again
    (backoff doubling) and then quarantined as a file with its reason; the run goes on.
    """

    crawl_format: Literal["auto", "warc", "wet"] = "auto"
    use_listing: bool = True
    sample_files: int | None = Field(None, ge=1)
    sample_fraction: float | None = Field(None, gt=0.0, le=1.0)
    sample_seed: int = 0
    list_page_size: int = Field(1000, ge=1, le=1000)
    file_retries: int = Field(3, ge=0)
    retry_delay_s: float = Field(2.0, ge=0.0)

    @model_validator(mode="after")
    def _one_sample(self) -> InputSelection:
        if self.sample_files is not None and self.sample_fraction is not None:
            raise ValueError("give sample_files or sample_fraction, not both")
        return self


class IngestConfig(_Frozen):
    """Everything the ingest stage needs. ``input`` is a snapshot root (Common Crawl layout
    ``crawl-data/<snapshot>/segments/<segment>/{warc,wet}/*.gz``), a crawl root (with ``snapshot``: that
    snapshot, else the newest), a flat folder, or one file; local or s3://. ``select``: which files."""

    input: str
    store: str
    snapshot: str | None = None
    select: InputSelection = InputSelection()
    extract: ExtractSettings = ExtractSettings()
    filters: FilterConfig = FilterConfig()
    dedup: DedupConfig = DedupConfig()
    workers: int | None = Field(None, ge=0)
    scheduler: str | None = None

    @field_validator("snapshot")
    @classmethod
    def _snapshot_name(cls, value: str | None) -> str | None:
        return None if value is None else validate_name(value, "snapshot")
