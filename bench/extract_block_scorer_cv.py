"""Would a learned block scorer after the precision rules help? Site-split cross-validation on half 0 only.

    .venv/bin/python bench/extract_block_scorer_cv.py                       # labels: evaluation snippets
    .venv/bin/python bench/extract_block_scorer_cv.py --write-pages /tmp/h0.json
    NLTK_DATA=.venv-bench-datatrove/nltk_data PYTHONPATH=bench .venv-bench-datatrove/bin/python \\
        bench/peers/trafilatura_extract.py --pages /tmp/h0.json --out /tmp/traf0.json
    .venv/bin/python bench/extract_block_scorer_cv.py --trafilatura /tmp/traf0.json   # labels: Trafilatura
    .venv/bin/python bench/extract_block_scorer_cv.py --article-benchmark DIR   # trained on whole-article truth
    .venv/bin/python bench/extract_block_scorer_cv.py --wcxb DIR   # trained on WCXB's dev pages (main content)

The blocks that survive Quarry's precision rules (``tasks.ingest.boilerplate``) get language-independent
features (length, words, tag, link density, digits / capitals / punctuation, short-word share, position on the
page and relative to the prose paragraphs, neighbours). A logistic regression (or ``--model gbm``, a small
gradient-boosted model) is trained on one fold of the tuning half's sites and applied to the other fold: a
kept block whose boilerplate probability exceeds a threshold is dropped, and the fold's must / must-not
snippets are scored before and after. Labels are either the evaluation snippets of the training fold (a block
holding a must snippet: content, a must-not snippet: boilerplate) or, with ``--trafilatura``, Trafilatura's
output on the same pages (dense labels, no snippets used), or, with ``--article-benchmark``, the pages of an
article-extraction-benchmark checkout (``tasks/ingest/article_benchmark.py``): a block is content when at least
half of its word 4-grams are in the page's ground-truth article; the model is then trained on those pages alone
and applied to both folds. ``--wcxb`` does the same with the main content of WCXB's dev split
(``tasks/ingest/snippet_benchmark.py``, 1,497 pages of seven types). Only site half 0 is ever loaded; half 1
stays held out.

Result (2026-11-29 and 2026-12-07, see bench/RESULTS.md section 7): no label source (snippets, Trafilatura,
whole-article ground truth of other pages, WCXB's 1,497 pages) and neither model removes must-not snippets
without losing about as many must snippets; the scorer is therefore not part of the stage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from common import default_shared  # noqa: E402

FEATURES = (
    "bias",
    "log_chars",
    "link_density",
    "heading",
    "li",
    "p",
    "bare",
    "sentence_end",
    "position",
    "before_prose",
    "after_prose",
    "prose",
    "near_prose",
    "digit_share",
    "upper_share",
    "punct_share",
    "comma_per_word",
    "mean_word_len",
    "short_word_share",
    "size_vs_max",
    "page_link_share",
    "separators",
    "prev_prose",
    "next_prose",
    "prev_heading",
    "log_words",
)
_WS = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip().lower()


def page_features(blocks: list[Any], keep: list[bool]) -> list[list[float] | None]:
    """Per block, its features (:data:`FEATURES` order) or None (dropped by the rules, or ``pre``)."""
    from tasks.ingest.boilerplate.patterns import SENTENCE_END
    from tasks.ingest.boilerplate.rules import _is_prose

    idx = [i for i, k in enumerate(keep) if k]
    out: list[list[float] | None] = [None] * len(blocks)
    if not idx:
        return out
    kept = [blocks[i] for i in idx]
    sizes = [len(b.text) for b in kept]
    total = sum(sizes) or 1
    longest = max(sizes) or 1
    prose = [_is_prose(b) for b in kept]
    prose_at = [j for j, p in enumerate(prose) if p]
    first = prose_at[0] if prose_at else len(kept)
    last = prose_at[-1] if prose_at else -1
    page_links = sum(b.link_chars for b in kept) / total
    position = 0
    for j, block in enumerate(kept):
        text, size = block.text, sizes[j]
        position += size
        if block.kind == "pre":
            continue
        words = text.split()
        n_words = len(words) or 1
        letters = sum(c.isalpha() for c in text)
        upper = sum(c.isupper() for c in text)
        digits = sum(c.isdigit() for c in text)
        punct = sum(not (c.isalnum() or c.isspace()) for c in text)
        near = any(prose[k] for k in range(max(0, j - 2), min(len(kept), j + 3)) if k != j)
        out[idx[j]] = [
            1.0,
            math.log1p(size),
            block.link_density,
            float(block.heading),
            float(block.kind == "li"),
            float(block.kind == "p"),
            float(block.kind == ""),
            float(SENTENCE_END.search(text) is not None),
            (position - size / 2) / total,
            float(j < first),
            float(j > last),
            float(prose[j]),
            float(near),
            digits / size,
            upper / letters if letters else 0.0,
            punct / size,
            text.count(",") / n_words,
            min(sum(len(w) for w in words) / n_words, 20.0) / 10,
            sum(len(w) <= 3 for w in words) / n_words,
            size / longest,
            page_links,
            float(any(s in text for s in "|•·»›/")),
            float(j > 0 and prose[j - 1]),
            float(j + 1 < len(kept) and prose[j + 1]),
            float(j > 0 and kept[j - 1].heading),
            math.log1p(n_words),
        ]
    return out


def _fold(url: str) -> int:
    from tasks.ingest.evaluate import site

    return int(hashlib.sha1((site(url) + "#cv").encode()).hexdigest(), 16) % 2


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared-data", default=str(default_shared()))
    parser.add_argument("--trafilatura", help="Trafilatura texts of half 0 (JSON from the peer script)")
    parser.add_argument("--write-pages", help="write half 0's pages (url → HTML) for the peer script, exit")
    parser.add_argument("--model", choices=("lr", "gbm"), default="lr")
    parser.add_argument("--article-benchmark", metavar="DIR", help="train on this benchmark's pages instead")
    parser.add_argument("--wcxb", metavar="DIR", help="train on a WCXB checkout's dev pages instead")
    args = parser.parse_args()

    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from tasks.ingest.boilerplate import PrecisionConfig, drop_reasons, page_blocks, render
    from tasks.ingest.charset import decode
    from tasks.ingest.evaluate import eval_key, site_half
    from tasks.ingest.sample_snapshot import load_eval_pages

    pages = [p for p in load_eval_pages(Path(args.shared_data)) if site_half(p.url) == 0]
    if args.write_pages:
        html = {eval_key(p.url): decode(p.html, None)[0] for p in pages}
        Path(args.write_pages).write_text(json.dumps(html), encoding="utf-8")
        return
    reference: dict[str, str] = {}
    if args.trafilatura:
        reference = json.loads(Path(args.trafilatura).read_text(encoding="utf-8"))["texts"]

    config = PrecisionConfig()
    rows: list[dict[str, Any]] = []
    for page in pages:
        blocks = page_blocks(decode(page.html, None)[0], config)
        keep = [r is None for r in drop_reasons(blocks, config)]
        feats = page_features(blocks, keep)
        must = [_norm(s) for s in page.must if s.strip()]
        must_not = [_norm(s) for s in page.must_not if s.strip()]
        ref = _norm(reference.get(eval_key(page.url), ""))
        labels: list[int | None] = []
        for block, feat in zip(blocks, feats, strict=True):
            text = _norm(block.text)
            if feat is None:
                labels.append(None)
            elif args.trafilatura:
                labels.append((1 if text in ref else 0) if ref else None)
            else:
                pos = any(s in text or (len(text) >= 20 and text in s) for s in must)
                neg = any(s in text or (len(text) >= 20 and text in s) for s in must_not)
                labels.append(1 if pos and not neg else 0 if neg and not pos else None)
        rows.append(
            {"fold": _fold(page.url), "blocks": blocks, "keep": keep, "feats": feats, "labels": labels}
            | {"must": must, "must_not": must_not}
        )

    def model() -> Any:
        if args.model == "gbm":
            return HistGradientBoostingClassifier(max_depth=3, max_iter=100, learning_rate=0.1)
        return LogisticRegression(C=1.0, max_iter=3000, class_weight=None if args.trafilatura else "balanced")

    def score(chosen: list[dict[str, Any]], fitted: Any, threshold: float) -> tuple[int, int, int]:
        hit = clean = dropped = 0
        for row in chosen:
            feats = [f for f in row["feats"] if f is not None]
            probs = iter(fitted.predict_proba(np.array(feats))[:, 0] if fitted is not None and feats else [])
            kept = []
            for block, keep, feat in zip(row["blocks"], row["keep"], row["feats"], strict=True):
                if not keep:
                    continue
                if feat is not None and fitted is not None and next(probs) > threshold:
                    dropped += 1
                    continue
                kept.append(block)
            text = _norm(render(kept))
            hit += sum(s in text for s in row["must"])
            clean += sum(s not in text for s in row["must_not"])
        return hit, clean, dropped

    external = None
    if args.article_benchmark:
        from tasks.ingest.article_benchmark import load_article_benchmark

        external = _truth_rows(
            [(a.html, a.body) for a in load_article_benchmark(Path(args.article_benchmark))], config
        )
    elif args.wcxb:
        from tasks.ingest.snippet_benchmark import load_wcxb

        external = _truth_rows([(p.html, p.body) for p in load_wcxb(Path(args.wcxb), "dev")], config)
    source = (
        "article-benchmark ground truth"
        if args.article_benchmark
        else "WCXB dev main content"
        if args.wcxb
        else "trafilatura output"
        if args.trafilatura
        else "evaluation snippets"
    )
    print(f"half 0 only: {len(pages)} pages; labels: {source}; model: {args.model}")
    for fold in (0, 1):
        train = [r for r in rows if r["fold"] != fold]
        test = [r for r in rows if r["fold"] == fold]
        x = [f for r in train for f, y in zip(r["feats"], r["labels"], strict=True) if y is not None]
        y = [y for r in train for y in r["labels"] if y is not None]
        if external:
            x, y = external
        fitted = model().fit(np.array(x), np.array(y))
        base_hit, base_clean, _ = score(test, None, 1.0)
        n_must = sum(len(r["must"]) for r in test)
        n_not = sum(len(r["must_not"]) for r in test)
        print(
            f"\nfold {fold}: train {len(y)} labelled blocks ({y.count(0)} boilerplate); test {len(test)} pages"
        )
        print(f"  rules only: must {base_hit}/{n_must}, must-not clean {base_clean}/{n_not}")
        for threshold in (0.6, 0.7, 0.8, 0.9, 0.95):
            hit, clean, dropped = score(test, fitted, threshold)
            print(
                f"  p(boilerplate) > {threshold}: must {hit - base_hit:+d}, must-not clean {clean - base_clean:+d}, "
                f"blocks dropped {dropped}"
            )
    if args.model == "lr" and not external:
        x = [f for r in rows for f, y in zip(r["feats"], r["labels"], strict=True) if y is not None]
        y = [y for r in rows for y in r["labels"] if y is not None]
        weights = model().fit(np.array(x), np.array(y)).coef_[0]
        print("\nweights (content direction), all of half 0:")
        for name, w in sorted(zip(FEATURES, weights, strict=True), key=lambda item: -abs(item[1])):
            print(f"  {name:18s} {w:+.2f}")


def _truth_rows(pages: list[tuple[bytes, str]], config: Any) -> tuple[list[list[float]], list[int]]:
    """Features and labels of the blocks the rules keep on pages with whole ground truth (HTML, main text): 1
    (content) when at least half of a block's word 4-grams (its words, if fewer than four) are in the truth."""
    from tasks.ingest.article_benchmark import shingles
    from tasks.ingest.boilerplate import drop_reasons, page_blocks
    from tasks.ingest.charset import decode

    x: list[list[float]] = []
    y: list[int] = []
    for html, body in pages:
        truth = set(shingles(body))
        words = " " + " ".join(re.findall(r"\w+", body)) + " "
        blocks = page_blocks(decode(html, None)[0], config)
        keep = [r is None for r in drop_reasons(blocks, config)]
        for block, feat in zip(blocks, page_features(blocks, keep), strict=True):
            grams = shingles(block.text)
            if feat is None or not grams:
                continue
            tokens = re.findall(r"\w+", block.text)
            if len(tokens) < 4:
                inside = (" " + " ".join(tokens) + " ") in words
            else:
                inside = sum(n for g, n in grams.items() if g in truth) >= 0.5 * sum(grams.values())
            x.append(feat)
            y.append(int(inside))
    return x, y


if __name__ == "__main__":
    main()
