"""FineWeb2 (multilingual): the per-language filtering of ``fineweb-2-pipeline.py`` (github.com/huggingface/
fineweb-2), step 3 and step 5, with each language's published ``configs/<lang>_<Script>.yml``.

    language_score >= config["language_score"]
    GopherRepetitionFilter(dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0,
                           dup_line_frac=config, top_n_grams=config, dup_n_grams=config)
    FineWebQualityFilter(short_line_thr=999, char_duplicates_ratio=0.1,
                         line_punct_thr=config, new_line_ratio=config)
    GopherQualityFilter(min/max_avg_word_length=config, max_non_alpha_words_ratio=config,
                        stop_words=config["stopwords"], min_stop_words=2)
    # no C4 filters

The configs (``fineweb2_configs.py``) cover 173 of the 176 languages fastText's lid.176 returns, mapped from
lid.176's ISO 639-1 codes to FineWeb2's ISO 639-3 + script names with datatrove's tokenizer table.

Differences from the reference, and the fallback:

* FineWeb2 scores languages with GlotLID; Quarry with lid.176. The per-language ``language_score`` thresholds
  were tuned on GlotLID's scores and are applied to lid.176's as they are.
* FineWeb2 splits words with a per-language tokenizer (spaCy per language, jieba, pythainlp, ...); Quarry uses
  spaCy's English rules for every space-separated language and one word per character for scripts written
  without spaces (Chinese, Japanese, Thai, Lao, Khmer, Myanmar, Tibetan).
* Languages without a published config (English, which FineWeb2 leaves to FineWeb, and the few lid.176 labels
  FineWeb2 has no config for): datatrove's default thresholds in FineWeb2's pipeline shape above, the English
  stop words for English and no stop-word rule otherwise, and ``fallback_language_score`` (0.65).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from tasks.ingest.filters import (
    ENGLISH_STOP_WORDS,
    DocFilter,
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
    LanguageFilter,
)
from tasks.ingest.recipes import Recipe
from tasks.ingest.recipes.fineweb2_configs import FINEWEB2_CONFIGS


def _filters(config: dict[str, Any] | None, language: str) -> tuple[DocFilter, ...]:
    if config is None:
        return (
            GopherRepetition(dup_para_frac=0, dup_line_char_frac=0, dup_para_char_frac=0),
            FineWebQuality(short_line_thr=999, char_duplicates_ratio=0.1),
            GopherQuality(
                stop_words=ENGLISH_STOP_WORDS if language == "en" else frozenset(),
                min_stop_words=2 if language == "en" else None,
            ),
        )
    return (
        GopherRepetition(
            dup_para_frac=0,
            dup_line_char_frac=0,
            dup_para_char_frac=0,
            dup_line_frac=config["dup_line_frac"],
            top_n_grams=config["top_n_grams"],
            dup_n_grams=config["dup_n_grams"],
        ),
        FineWebQuality(
            short_line_thr=999,
            char_duplicates_ratio=0.1,
            line_punct_thr=config["line_punct_thr"],
            new_line_ratio=config["new_line_ratio"],
        ),
        GopherQuality(
            max_avg_word_length=config["max_avg_word_length"],
            min_avg_word_length=config["min_avg_word_length"],
            stop_words=frozenset(config["stopwords"]),
            max_non_alpha_words_ratio=config["max_non_alpha_words_ratio"],
            min_stop_words=2,
        ),
    )


def fineweb2(*, languages: tuple[str, ...] = (), fallback_language_score: float = 0.65) -> Recipe:
    @cache
    def filters_for(language: str) -> Sequence[DocFilter]:
        return _filters(FINEWEB2_CONFIGS.get(language), language)

    thresholds = {lang: float(cfg["language_score"]) for lang, cfg in FINEWEB2_CONFIGS.items()}
    return Recipe(
        name="fineweb2",
        description="FineWeb2: per-language lid threshold, Gopher repetition, FineWeb quality, Gopher quality",
        language=LanguageFilter(
            languages=tuple(languages), min_score=fallback_language_score, per_language=thresholds
        ),
        filters=filters_for,
        options={"languages": list(languages), "fallback_language_score": fallback_language_score},
    )


def config_name(language: str) -> str | None:
    """The FineWeb2 config a lid.176 language uses (``"deu_Latn"``), None for the fallback."""
    config = FINEWEB2_CONFIGS.get(language)
    return None if config is None else str(config["config"])
