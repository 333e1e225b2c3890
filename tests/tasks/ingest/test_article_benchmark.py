"""The whole-article benchmark's metric and loader (tasks/ingest/article_benchmark.py).

The expected numbers are worked out by hand from the metric's definition (word 4-gram shingles, per-page
tp / fp / fn divided by their sum, means over pages); the loader reads a benchmark laid out by the test."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tasks.ingest.article_benchmark import (
    load_article_benchmark,
    paired_difference,
    score_articles,
    shingle_match,
    shingles,
)


def test_shingles_are_word_four_grams_and_a_short_text_is_one() -> None:
    assert shingles("One, two; three four five!") == {
        ("One", "two", "three", "four"): 1,
        ("two", "three", "four", "five"): 1,
    }
    assert shingles("just two") == {("just", "two"): 1}
    assert shingles(" ... ") == {}


def test_one_page_counts_shared_extra_and_missing_shingles() -> None:
    # truth: abcd, bcde; extract: abcd, bcdx -> one shared, one extra, one missing
    assert shingle_match("a b c d e", "a b c d x") == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    # a repeated passage counts once per copy: abcd + bcda, cdab, dabc, abcd -> 1 shared, 4 extra
    assert shingle_match("a b c d", "a b c d a b c d") == pytest.approx((1 / 5, 4 / 5, 0.0))
    assert shingle_match("", "") == (0.0, 0.0, 0.0)


def test_scores_are_means_over_pages_with_the_benchmarks_conventions() -> None:
    truth = {"a": "one two three four five", "b": "six seven eight nine", "c": ""}
    # a: perfect; b: extracted as nothing (recall 0, no precision); c: nothing to find and nothing found
    score = score_articles(truth, {"a": "one two three four five", "c": ""})
    assert score.pages == 3
    assert score.precision == pytest.approx(1.0)
    assert score.recall == pytest.approx(0.5)
    assert score.f1 == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    # boilerplate around the article costs precision only
    noisy = score_articles({"a": "one two three four five"}, {"a": "menu login one two three four five"})
    assert noisy.recall == pytest.approx(1.0) and noisy.precision == pytest.approx(2 / 4)


def test_paired_difference_is_zero_for_twins_and_clear_for_a_better_extractor() -> None:
    truth = {
        f"p{i}": f"article {i} tells its story in many words about topic {i} and ends" for i in range(30)
    }
    same = paired_difference(truth, truth, dict(truth), rounds=200)
    assert all(value == (0.0, 0.0, 0.0) for value in same.values())
    noisy = {k: "subscribe to our newsletter now " + v for k, v in truth.items()}
    better = paired_difference(truth, truth, noisy, rounds=200)
    diff, low, high = better["precision"]
    assert 0 < low <= diff <= high
    assert better["recall"] == (0.0, 0.0, 0.0)


def _write_benchmark(root: Path, pages: dict[str, tuple[str, str]]) -> None:
    (root / "html").mkdir(parents=True)
    for key, (html, _) in pages.items():
        (root / "html" / f"{key}.html.gz").write_bytes(gzip.compress(html.encode("utf-8")))
    truth = {
        key: {"url": f"https://example.com/{key}", "articleBody": body} for key, (_, body) in pages.items()
    }
    (root / "ground-truth.json").write_text(json.dumps(truth), encoding="utf-8")


def test_loader_reads_a_checkout_and_says_what_is_missing(tmp_path: Path) -> None:
    _write_benchmark(
        tmp_path / "bench",
        {"k2": ("<p>Zwei</p>", "Zwei"), "k1": ("<p>Eins</p>", "Eins")},
    )
    pages = load_article_benchmark(tmp_path / "bench")
    assert [(p.key, p.url, p.html, p.body) for p in pages] == [
        ("k1", "https://example.com/k1", b"<p>Eins</p>", "Eins"),
        ("k2", "https://example.com/k2", b"<p>Zwei</p>", "Zwei"),
    ]
    (tmp_path / "bench" / "html" / "k2.html.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"k2\.html\.gz is missing"):
        load_article_benchmark(tmp_path / "bench")
    with pytest.raises(FileNotFoundError, match=r"no ground-truth\.json"):
        load_article_benchmark(tmp_path)
