"""Each heuristic rule drops what it should, keeps real encyclopedic text, and is counted."""

from __future__ import annotations

from pathlib import Path

import pytest
from crawlgen import wikitext_articles

from tasks.ingest.config import FilterConfig
from tasks.ingest.filters import (
    C4Rules,
    FilterPipeline,
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
    TextView,
)

PROSE = (
    "The harbour was built in the eighteenth century and it served the town for many years. "
    "Fishermen landed their catch there, and merchants shipped wool to the continent. "
    "During the war the quay was damaged, but the townspeople rebuilt it with their own hands. "
    "Today the harbour is a quiet place where visitors walk along the old stone walls and watch the boats. "
)


def test_gopher_quality_rules() -> None:
    f = GopherQuality()
    assert f.check(TextView("too short to be a document.", "en")) == "gopher_quality:too_few_words"
    assert f.check(TextView(PROSE, "en")) is None
    hashtags = " ".join(["#tag word"] * 60)
    assert f.check(TextView(hashtags, "en")) == "gopher_quality:symbol_word_ratio"
    no_stop = " ".join(f"lorem{i} ipsum{i} dolor{i}." for i in range(40))
    assert f.check(TextView(no_stop, "en")) == "gopher_quality:few_stop_words"
    bullets = "\n".join(f"• item number {i} in a long list of things" for i in range(30))
    assert f.check(TextView(bullets, "en")) == "gopher_quality:bullet_lines"


def test_stop_words_are_judged_per_language() -> None:
    german = (
        "Der Hafen wurde im achtzehnten Jahrhundert gebaut und er diente der Stadt viele Jahre. "
        "Die Fischer brachten ihren Fang an Land, und die Händler verschifften Wolle. " * 4
    )
    assert GopherQuality().check(TextView(german, "de")) is None
    # Judged by English stop words, German prose is not English prose.
    assert GopherQuality().check(TextView(german, "en")) == "gopher_quality:few_stop_words"


def test_gopher_repetition_rules() -> None:
    f = GopherRepetition()
    repeated_lines = "\n".join(["Buy cheap watches now at the best price online today."] * 10 + [PROSE])
    assert f.check(TextView(repeated_lines, "en")) == "gopher_repetition:dup_para_frac" or f.check(
        TextView(repeated_lines, "en")
    ).startswith("gopher_repetition:dup_line")
    assert f.check(TextView(PROSE, "en")) is None
    ngram_spam = PROSE + " ".join(["click here to win a free prize"] * 8)
    assert f.check(TextView(ngram_spam, "en")) is not None


def test_c4_rules() -> None:
    f = C4Rules()
    assert f.check(TextView(PROSE + " Lorem ipsum dolor sit amet.", "en")) == "c4:lorem_ipsum"
    assert f.check(TextView(PROSE + " function() { return 1; }", "en")) == "c4:curly_bracket"
    assert f.check(TextView("One sentence only", "en")) == "c4:too_few_sentences"
    assert f.check(TextView(PROSE, "en")) is None


def test_fineweb_rules() -> None:
    f = FineWebQuality()
    menu = "\n".join(["Home", "About us", "Products", "Contact", "Shop", "Blog", "Login", "Cart"])
    assert f.check(TextView(menu, "en")) == "fineweb:line_punct_ratio"
    assert f.check(TextView(PROSE, "en")) is None


def test_pipeline_counts_keeps_and_drops_with_timings() -> None:
    pipe = FilterPipeline(FilterConfig().build())
    docs = [PROSE, "short", PROSE + " Lorem ipsum dolor sit amet."]
    reasons = [pipe(TextView(d, "en")) for d in docs]
    assert reasons == [None, "gopher_quality:too_few_words", "c4:lorem_ipsum"]
    stats = pipe.stats.as_dict()
    assert stats["kept"] == 1 and sum(stats["dropped"].values()) == 2
    assert set(stats["seconds"]) == {"gopher_quality", "gopher_repetition", "c4", "fineweb"}


def test_real_encyclopedic_text_mostly_passes(shared_data: Path) -> None:
    pipe = FilterPipeline(FilterConfig().build())
    articles = wikitext_articles(shared_data, limit=40)
    kept = sum(pipe(TextView("\n\n".join(paras), "en")) is None for _, paras in articles)
    assert kept / len(articles) >= 0.9, pipe.stats.as_dict()


def test_filter_config_is_validated() -> None:
    with pytest.raises(ValueError, match="unknown filter"):
        FilterConfig(enabled=("gopher_quality", "nope"))
    with pytest.raises(ValueError, match="bad parameters"):
        FilterConfig(params={"c4": {"no_such_threshold": 1}}).build()
    assert FilterConfig(params={"gopher_quality": {"min_words": 5}}).build()[0].min_words == 5  # type: ignore[attr-defined]
