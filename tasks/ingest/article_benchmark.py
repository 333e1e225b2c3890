"""Extraction quality against whole-article ground truth: an independent check of the precision stage.

The trafilatura evaluation pages (:mod:`tasks.ingest.evaluate`) judge an extract by a few snippets per page,
and the precision stage was tuned on half of them. This module scores it on pages it was never tuned on, whose
ground truth is the whole article body: the layout of scrapinghub's article-extraction-benchmark (181 news and
blog pages, MIT licence), ``html/<key>.html.gz`` and ``ground-truth.json`` (``{key: {"url", "articleBody"}}``).
That benchmark is not in ``../shared/data``; pass the path of a checkout (nothing is downloaded).

The metric is the benchmark's own, reimplemented: per page, true positives, false positives and false
negatives over the multiset of word 4-grams (``\\w+`` tokens) of the truth and of the extract, divided by
their sum so that every page weighs the same; precision and recall are means over pages, F1 is computed from
the two means.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SHINGLE_WORDS = 4
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True)
class ArticlePage:
    key: str
    url: str
    html: bytes
    body: str


@dataclass(frozen=True)
class ArticleScore:
    pages: int
    precision: float
    recall: float
    f1: float


def load_article_benchmark(root: Path) -> list[ArticlePage]:
    """The pages of a benchmark checkout at ``root``, in key order; a clear error if it is not one."""
    truth_path = root / "ground-truth.json"
    if not truth_path.is_file():
        raise FileNotFoundError(
            f"{root}: no ground-truth.json (expected an article-extraction-benchmark checkout)"
        )
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    pages: list[ArticlePage] = []
    for key in sorted(truth):
        html_path = root / "html" / f"{key}.html.gz"
        if not html_path.is_file():
            raise FileNotFoundError(f"{root}: ground truth names {key!r} but html/{key}.html.gz is missing")
        entry = truth[key]
        pages.append(
            ArticlePage(
                key,
                entry.get("url", ""),
                gzip.decompress(html_path.read_bytes()),
                entry.get("articleBody") or "",
            )
        )
    return pages


def shingles(text: str, n: int = SHINGLE_WORDS) -> Counter[tuple[str, ...]]:
    """The multiset of ``n``-word shingles of ``text``; a text of fewer than ``n`` words is one shingle."""
    tokens = _TOKEN.findall(text)
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])


def shingle_match(truth: str, predicted: str, n: int = SHINGLE_WORDS) -> tuple[float, float, float]:
    """(tp, fp, fn) of one page over word shingles, divided by their sum ((0, 0, 0) when both are empty)."""
    expected, got = shingles(truth, n), shingles(predicted, n)
    tp = sum((expected & got).values())
    fp = sum((got - expected).values())
    fn = sum((expected - got).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def score_articles(truth: Mapping[str, str], predicted: Mapping[str, str]) -> ArticleScore:
    """Mean shingle precision and recall over the pages of ``truth`` (a page missing from ``predicted`` was
    extracted as nothing), and the F1 of the two means."""
    return _score([shingle_match(body, predicted.get(key, "")) for key, body in truth.items()])


def paired_difference(
    truth: Mapping[str, str],
    first: Mapping[str, str],
    second: Mapping[str, str],
    rounds: int = 1000,
    seed: int = 0,
) -> dict[str, tuple[float, float, float]]:
    """``first`` minus ``second`` in precision, recall and F1 over all pages, with a 95 % interval from
    resampling the pages (the same resampled pages for both, so what the two extractors share cancels out):
    ``{"precision": (difference, low, high), ...}``."""
    keys = list(truth)
    a = [shingle_match(truth[k], first.get(k, "")) for k in keys]
    b = [shingle_match(truth[k], second.get(k, "")) for k in keys]
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in _METRICS}
    for _ in range(rounds):
        pick = [rng.randrange(len(keys)) for _ in keys]
        score_a, score_b = _score([a[i] for i in pick]), _score([b[i] for i in pick])
        for name, values in samples.items():
            values.append(getattr(score_a, name) - getattr(score_b, name))
    whole_a, whole_b = _score(a), _score(b)
    out: dict[str, tuple[float, float, float]] = {}
    for name, values in samples.items():
        values.sort()
        low, high = values[int(0.025 * (rounds - 1))], values[int(0.975 * (rounds - 1))]
        out[name] = (getattr(whole_a, name) - getattr(whole_b, name), low, high)
    return out


_METRICS = ("precision", "recall", "f1")


def _score(matches: list[tuple[float, float, float]]) -> ArticleScore:
    precisions = [_ratio(tp, fp, fn) for tp, fp, fn in matches if tp + fp > 0]
    recalls = [_ratio(tp, fn, fp) for tp, fp, fn in matches if tp + fn > 0]
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    recall = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ArticleScore(len(matches), precision, recall, f1)


def _ratio(tp: float, wrong: float, other: float) -> float:
    """tp / (tp + wrong), with the benchmark's conventions: a page without any error is 1, one without a hit 0."""
    if wrong == other == 0:
        return 1.0
    if tp == wrong == 0:
        return 0.0
    return tp / (tp + wrong)
