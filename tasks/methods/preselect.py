"""PreSelect: documents on which the models' losses predict their downstream ability are the documents to train on.

Paper: Shum et al. 2025, "Predictive Data Selection: The Data That Predicts Is the Data That Teaches"
(arXiv 2503.00808; reference code github.com/hkust-nlp/PreSelect). The paper hypothesises that "data on which
model losses are predictive of downstream abilities also contribute effectively to learning" and measures it per
document with the *predictive strength* ``S``: with ``N`` models ordered by their downstream performance,
``s_1 < s_2 < ... < s_N``, and ``C_i`` the normalised loss (bits per character) of model ``i`` on the document,

    S = Σ_{1 ≤ i < j ≤ N} 1[C_i > C_j] / Z,      Z = N (N − 1) / 2,

the share of model pairs whose order by loss on the document matches their order by performance (the weaker
model compresses the document worse); ``S ∈ [0, 1]``, 1 for a perfect match. Documents with high ``S`` are the
positive examples and documents with low ``S`` the negative ones of a fastText classifier, which then scores
the whole pool; the top-scoring documents are selected.

Here: the "models" are proxies trained on different mixtures of the user's sample (:func:`proxy_document_losses`,
the sweep trainer's per-document held-out evaluation), their "downstream performance" their loss on the user's
target sets (``lower_is_better``), and ``C_i`` their mean next-byte loss on the document's first ``seq_len``
bytes (byte-level tokens: a loss per byte is a normalised loss, comparable across documents of any length).
Named details: model pairs of equal performance are left out of the sum and of ``Z`` (the paper's models all
differ); a model without a finite score is left out; a document with a non-finite loss for any remaining model
has no strength (NaN). Labels (:func:`preselect_labels`, :func:`preselect_negatives`): the ``positive_fraction``
of documents with the highest ``S`` are positive and as many with the lowest ``S`` negative (a balanced
training set, as the paper's equal numbers of positive and negative examples), ties broken by a seeded random
order. The classifier is :func:`tasks.illusion.classifier.train_classifier` (fastText supervised, bigrams, the
distill stage's text normalisation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tasks.illusion.classifier import train_classifier

if TYPE_CHECKING:
    from tasks.mix.specs import SamplingSpec
    from tasks.sweep.config import SweepConfig
    from tasks.sweep.model import ProxyModelConfig
    from tasks.sweep.tokenizer import TokenArray
    from tasks.sweep.train import SampleCorpus
    from tasks.sweep.trainer import TrainConfig

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_POSITIVE_FRACTION = 0.1


def predictive_strength(
    doc_losses: npt.NDArray[np.float64], model_scores: npt.ArrayLike, lower_is_better: bool = True
) -> FloatArray:
    """The paper's ``S`` of every document: ``doc_losses`` is ``(n_models, n_docs)``, ``model_scores`` the
    models' target performance (a loss when ``lower_is_better``, an accuracy otherwise). Returns ``(n_docs,)``
    in ``[0, 1]``, NaN where a document has a non-finite loss."""
    losses = np.asarray(doc_losses, dtype=np.float64)
    scores = np.asarray(model_scores, dtype=np.float64).reshape(-1)
    if losses.ndim != 2 or losses.shape[0] != len(scores):
        raise ValueError(f"doc_losses must be (n_models={len(scores)}, n_docs), got {losses.shape}")
    keep = np.isfinite(scores)
    losses, scores = losses[keep], scores[keep]
    performance = -scores if lower_is_better else scores
    order = np.argsort(performance, kind="stable")  # weakest model first: s_1 < s_2 < ... < s_N
    losses, performance = losses[order], performance[order]
    n_models, n_docs = losses.shape
    agree = np.zeros(n_docs)
    pairs = 0
    for i in range(n_models):
        for j in range(i + 1, n_models):
            if performance[i] == performance[j]:
                continue  # no order to match
            agree += losses[i] > losses[j]
            pairs += 1
    if pairs == 0:
        raise ValueError("predictive strength needs at least two models with different finite scores")
    strength: FloatArray = agree / pairs
    strength[~np.isfinite(losses).all(axis=0)] = math.nan
    return strength


def _ranked(strength: npt.ArrayLike, seed: int) -> tuple[npt.NDArray[np.int64], int]:
    """Documents with a strength, highest first (ties in a seeded random order), and how many there are."""
    s = np.asarray(strength, dtype=np.float64)
    usable = np.flatnonzero(np.isfinite(s))
    tiebreak = np.random.default_rng(seed).permutation(len(usable))
    order = usable[np.lexsort((tiebreak, -s[usable]))]
    return order, len(usable)


def _count(fraction: float, usable: int) -> int:
    if not 0 < fraction <= 0.5:
        raise ValueError(f"positive_fraction must be in (0, 0.5], got {fraction}")
    return min(usable // 2, max(1, round(fraction * usable))) if usable >= 2 else 0


def preselect_labels(
    strength: npt.ArrayLike, positive_fraction: float = DEFAULT_POSITIVE_FRACTION, seed: int = 0
) -> BoolArray:
    """The positive examples: the ``positive_fraction`` of the documents that have a strength with the highest
    strength (the negatives, as many with the lowest, are :func:`preselect_negatives`)."""
    order, usable = _ranked(strength, seed)
    out = np.zeros(len(np.asarray(strength)), dtype=bool)
    out[order[: _count(positive_fraction, usable)]] = True
    return out


def preselect_negatives(
    strength: npt.ArrayLike, positive_fraction: float = DEFAULT_POSITIVE_FRACTION, seed: int = 0
) -> BoolArray:
    """The negative examples: as many documents as :func:`preselect_labels` marks positive, the lowest strength
    first (disjoint from the positives)."""
    order, usable = _ranked(strength, seed)
    out = np.zeros(len(np.asarray(strength)), dtype=bool)
    k = _count(positive_fraction, usable)
    if k:
        out[order[usable - k : usable]] = True
    return out


def preselect_scores(
    pool_texts: Sequence[str],
    positive_texts: Sequence[str],
    negative_texts: Sequence[str],
    seed: int,
    epoch: int = 20,
    dim: int = 32,
) -> FloatArray:
    """P(positive) of every pool document by a fastText classifier trained on the labelled documents."""
    if not positive_texts or not negative_texts:
        raise ValueError("PreSelect's classifier needs positive and negative documents (label some first)")
    model = train_classifier(list(positive_texts), list(negative_texts), seed=seed, epoch=epoch, dim=dim)
    return model.score(list(pool_texts))


# ---------------------------------------------------------------------------------------------------------------
# the models: proxies trained on different mixtures, evaluated per document
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class ProxyDocumentLosses:
    doc_losses: FloatArray  # (n_proxies, n_docs): mean next-byte loss on each document's first seq_len bytes
    target_losses: list[dict[str, float]]  # per proxy: its loss on every target set ({} when not completed)
    status: list[str]  # per proxy: completed / diverged / empty
    seconds: float

    def model_scores(self, target_names: Sequence[str] | None = None) -> FloatArray:
        """Each proxy's mean loss over ``target_names`` (all targets by default); NaN for a failed proxy."""
        out = np.full(len(self.status), math.nan)
        for i, losses in enumerate(self.target_losses):
            names = list(target_names) if target_names is not None else sorted(losses)
            vals = [losses[n] for n in names if n in losses]
            if vals and len(vals) == len(names):
                out[i] = float(np.mean(vals))
        return out


def proxy_document_losses(
    tokens: TokenArray,
    offsets: npt.NDArray[np.int64],
    values: Sequence[npt.ArrayLike],
    docs: Sequence[TokenArray],
    *,
    model_config: ProxyModelConfig,
    train_config: TrainConfig,
    token_budget: int,
    targets: Mapping[str, TokenArray],
    seed: int,
    device: str = "auto",
) -> ProxyDocumentLosses:
    """Train one proxy per sampling-value vector in ``values`` (over the documents ``tokens``/``offsets``, all at
    once with :func:`tasks.sweep.trainer.train_proxies`) and evaluate each on the target sets and on every
    document of ``docs`` (its mean loss per byte over the first ``model_config.seq_len`` bytes; NaN for a
    document too short to predict anything, and a row of NaN for a proxy that did not complete)."""
    from tasks.sweep.targets import HELDOUT
    from tasks.sweep.trainer import make_stream, train_proxies

    if not docs:
        raise ValueError("no documents to evaluate the proxies on")
    streams = [
        make_stream(tokens, offsets, v, seed * 1_000_003 + i, model_config, train_config)
        for i, v in enumerate(values)
    ]
    outcome = train_proxies(
        model_config=model_config,
        train_config=train_config,
        streams=streams,
        seeds=[seed + i for i in range(len(streams))],
        token_budget=token_budget,
        targets=targets,
        heldout_docs=docs,
        device=device,
        keep_doc_losses=True,
    )
    losses = np.full((len(streams), len(docs)), math.nan)
    for i, p in enumerate(outcome.proxies):
        if p.status == "completed" and p.heldout_doc_losses is not None:
            losses[i] = p.heldout_doc_losses
    return ProxyDocumentLosses(
        doc_losses=losses,
        target_losses=[{k: v for k, v in p.losses.items() if k != HELDOUT} for p in outcome.proxies],
        status=[p.status for p in outcome.proxies],
        seconds=outcome.seconds,
    )


def sample_document_losses(
    corpus: SampleCorpus,
    config: SweepConfig,
    specs: Sequence[SamplingSpec],
    docs: Sequence[TokenArray],
    targets: Mapping[str, TokenArray],
    seed: int,
    device: str = "auto",
    token_budget: int | None = None,
) -> ProxyDocumentLosses:
    """:func:`proxy_document_losses` with one proxy per sampling function ``specs`` on a sweep's sample corpus
    (the bake-off's way to get diverse models: e.g. RegMix draws)."""
    from tasks.sweep.train import sample_mixture

    values = [sample_mixture(corpus, s, seed + i, config.criteria)[0] for i, s in enumerate(specs)]
    return proxy_document_losses(
        corpus.tokens,
        corpus.offsets,
        values,
        docs,
        model_config=config.model,
        train_config=config.train,
        token_budget=token_budget or config.token_budget,
        targets=targets,
        seed=seed,
        device=device,
    )
