"""The classifier-based quality filter (CQF): a fastText classifier of high-quality reference text against web
text, as DCLM trains its filter (``__label__hq`` vs ``__label__web``); a document's score is P(hq).

It uses the distill stage's text normalisation (:func:`tasks.distill.text.fasttext_line`) and its fastText
training routine (the thread and NaN workarounds of ``fasttext-numpy2``), so that the filter sees text exactly as
Quarry's distilled raters do.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from tasks.distill.stage import DistillConfig
from tasks.distill.stage import _train as train_fasttext
from tasks.distill.text import fasttext_line

HQ_LABEL = "__label__hq"
WEB_LABEL = "__label__web"


@dataclass
class QualityClassifier:
    model: Any  # fasttext._FastText
    train_hq: int
    train_web: int
    learning_rate: float

    def score(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """P(high quality) of each text."""
        if not texts:
            return np.zeros(0, dtype=np.float64)
        labels, probs = self.model.predict([fasttext_line(t) for t in texts], k=-1)
        out = np.empty(len(texts), dtype=np.float64)
        for i, (lbls, ps) in enumerate(zip(labels, probs, strict=True)):
            p = dict(zip(lbls, (float(v) for v in ps), strict=True))
            out[i] = p.get(HQ_LABEL, 1.0 - p.get(WEB_LABEL, 1.0))
        # fastText adds 1e-5 to each probability before it returns it: a certain label comes back as 1.00001
        return np.clip(out, 0.0, 1.0)


def train_classifier(
    hq: Sequence[str], web: Sequence[str], *, seed: int = 0, epoch: int = 20, dim: int = 32
) -> QualityClassifier:
    """fastText supervised (bigrams, softmax) on ``hq`` vs ``web`` documents."""
    if not hq or not web:
        raise ValueError("the quality classifier needs high-quality and web training documents")
    config = DistillConfig(store="-", dim=dim, epoch=epoch, seed=seed, threads=2)
    lines = [fasttext_line(t) for t in hq] + [fasttext_line(t) for t in web]
    labels = [HQ_LABEL] * len(hq) + [WEB_LABEL] * len(web)
    with tempfile.TemporaryDirectory(prefix="quarry-cqf-") as tmp:
        model, lr = train_fasttext(lines, labels, config, os.path.join(tmp, "cqf.bin"))
    return QualityClassifier(model, len(hq), len(web), lr)


def auc(positive: npt.ArrayLike, negative: npt.ArrayLike) -> float | None:
    """P(a positive scores above a negative), ties counted half (Mann-Whitney); None without both."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    if not len(pos) or not len(neg):
        return None
    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
