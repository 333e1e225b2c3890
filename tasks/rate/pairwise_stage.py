"""The rate stage's pairwise part: sample pairs, ask each in both orders, fit Bradley–Terry, one score per page.

Called by :func:`tasks.rate.stage.run_rate` for the criteria named ``pairwise_*`` (see :mod:`tasks.rate.pairwise`).
Every ordered question is checkpointed in the rating cache as it arrives (key: the two shown texts' hashes, in
order; the cache directory carries the criterion's template hash and the model), so a rerun only asks what is
missing and a rerun on the same sample asks nothing.

What the ratings table gets per pairwise criterion ``c``:

``c``                 σ(θ − mean θ): the Bradley–Terry probability that the page is preferred over an average page
                      of the sample, in (0, 1) — distilled like any score criterion (value range 0–1)
``c__theta``          the Bradley–Terry log strength θ
``c__comparisons``    how many order-averaged comparisons the page took part in
``c__status``         ``ok``; ``pending`` (a comparison still owed: rerun); ``failed``/``malformed`` (none of its
                      comparisons got an answer); ``too_few_documents``; or the page's own status (empty, non_text)

Beside the table, ``ratings/<name>/<c>.comparisons.parquet`` keeps every answered pair (ids, sampling round,
P(A) in each order, the order-averaged outcome), so the aggregation can be refitted or checked.

Pages with suspicious spans (:mod:`tasks.rate.untrusted`) are compared with those spans masked when the
consistency check is on: the absolute criteria's "lower of the two readings" rule has no pairwise analogue short
of doubling every comparison, so a span that could steer the judge is simply not shown to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tasks.rate.assemble import Doc
from tasks.rate.bradley_terry import Comparison, fit_bradley_terry
from tasks.rate.cache import RatingCache
from tasks.rate.client import Outcome, RaterClient, RaterUnavailable, render_chatml
from tasks.rate.criteria import text_hash, truncate_middle
from tasks.rate.pairwise import (
    PairJob,
    PairwiseCriterion,
    order_averaged,
    pair_key,
    position_bias,
    sample_pairs,
)
from tasks.storage import Store


@dataclass
class PairwiseRun:
    columns: dict[str, list[Any]] = field(default_factory=dict)
    types: dict[str, pa.DataType] = field(default_factory=dict)
    rated: dict[str, int] = field(default_factory=dict)
    final_failures: dict[str, int] = field(default_factory=dict)
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    # per criterion, one row per answered pair: ids, sampling round, P(A) in each order, the averaged outcome
    comparisons: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cache_hits: int = 0
    asked: int = 0
    complete: bool = True
    dead: RaterUnavailable | None = None

    def append_to(self, table: pa.Table) -> pa.Table:
        for name, values in self.columns.items():
            table = table.append_column(name, pa.array(values, type=self.types.get(name, pa.string())))
        return table


def pair_char_budget(
    criteria: Sequence[PairwiseCriterion],
    max_doc_tokens: int,
    chars_per_token: float,
    max_model_len: int | None,
) -> int:
    """Characters per page so that two pages and the prompt fit the model's context."""
    tokens = max_doc_tokens
    if max_model_len:
        overhead = max(len(render_chatml(c.messages_pair("", ""))) for c in criteria) / 2.5
        tokens = max(16, min(tokens, int((max_model_len - overhead - 16) / 2)))
    return max(64, int(tokens * chars_per_token))


def _shown_text(doc: Doc, use_masked: bool, max_chars: int) -> str:
    text = doc.masked_text if use_masked and doc.masked_text is not None else doc.text
    return truncate_middle(text, max_chars)[0]


def rate_pairwise(
    store: Store,
    model: str,
    client: RaterClient,
    docs: list[Doc],
    criteria: Sequence[PairwiseCriterion],
    *,
    comparisons_per_doc: int,
    seed: int,
    prior: float,
    use_masked: bool,
    max_chars: int,
    flush_every: int = 8,
) -> PairwiseRun:
    """Ask every sampled pair in both orders (cached), fit Bradley–Terry, return the table columns and meta."""
    run = PairwiseRun()
    ok = [i for i, d in enumerate(docs) if d.status == "ok"]
    shown = {i: _shown_text(docs[i], use_masked, max_chars) for i in ok}
    hashes = {i: text_hash(shown[i]) for i in ok}
    by_id = {docs[i].id: i for i in ok}
    pairs = sample_pairs(list(by_id), comparisons_per_doc, seed)
    for criterion in criteria:
        cache = RatingCache(store, criterion.key, model, flush_every=flush_every)
        cache.load()
        statuses: dict[str, str] = {}
        jobs: dict[str, PairJob] = {}
        for pair in pairs:
            x, y = by_id[pair.a], by_id[pair.b]
            for first, second in ((x, y), (y, x)):
                key = pair_key(hashes[first], hashes[second])
                if cache.get(key) is not None:
                    run.cache_hits += 1
                elif key not in jobs:
                    jobs[key] = PairJob(key, criterion, shown[first], text_b=shown[second])
        if jobs and run.dead is None:

            def on_result(
                outcome: Outcome, cache: RatingCache = cache, seen: dict[str, str] = statuses
            ) -> None:
                seen[outcome.key] = outcome.status
                if outcome.status == "ok" and outcome.reading is not None:
                    cache.put(outcome.key, outcome.reading, outcome.sent_chars, outcome.shrinks)

            run.asked += len(jobs)
            try:
                client.rate(list(jobs.values()), on_result)
            except RaterUnavailable as exc:
                run.dead = exc
            finally:
                cache.flush()
                cache.compact()
        _aggregate(
            run, criterion, docs, ok, hashes, pairs, by_id, cache, statuses, prior, comparisons_per_doc
        )
    return run


def _aggregate(
    run: PairwiseRun,
    criterion: PairwiseCriterion,
    docs: list[Doc],
    ok: list[int],
    hashes: dict[int, str],
    pairs: Sequence[Any],
    by_id: dict[str, int],
    cache: RatingCache,
    statuses: dict[str, str],
    prior: float,
    k: int,
) -> None:
    index = {doc: pos for pos, doc in enumerate(ok)}
    comparisons: list[Comparison] = []
    biases: list[float] = []
    p_first: list[float] = []
    rows: list[dict[str, Any]] = []
    pending: set[int] = set()
    failed_only: dict[int, str] = {}
    for pair in pairs:
        x, y = by_id[pair.a], by_id[pair.b]
        keys = (pair_key(hashes[x], hashes[y]), pair_key(hashes[y], hashes[x]))
        forward, backward = cache.get(keys[0]), cache.get(keys[1])
        if forward is not None and backward is not None:
            averaged = order_averaged(forward.value, backward.value)
            comparisons.append(Comparison(index[x], index[y], averaged))
            rows.append(
                {
                    "a": docs[x].id,
                    "b": docs[y].id,
                    "round": pair.round,
                    "p_a_forward": forward.value,
                    "p_a_backward": backward.value,
                    "p_a_wins": averaged,
                }
            )
            biases.append(position_bias(forward.value, backward.value))
            p_first += [forward.value, backward.value]
            continue
        states = [
            statuses.get(key, "pending")
            for key, got in zip(keys, (forward, backward), strict=True)
            if not got
        ]
        if any(s in ("pending", "budget") for s in states):
            pending.update((x, y))
        else:
            for doc in (x, y):
                failed_only.setdefault(doc, states[0])
    name = criterion.name
    values: list[float | None] = [None] * len(docs)
    thetas: list[float | None] = [None] * len(docs)
    counts: list[int] = [0] * len(docs)
    status = [d.status for d in docs]
    fit = fit_bradley_terry(len(ok), comparisons, prior=prior) if comparisons else None
    for doc in ok:
        n = int(fit.comparisons[index[doc]]) if fit is not None else 0
        counts[doc] = n
        if len(ok) < 2:
            status[doc] = "too_few_documents"
        elif doc in pending:
            status[doc] = "pending"
        elif n == 0:
            status[doc] = failed_only.get(doc, "failed")
        else:
            status[doc] = "ok"
    if fit is not None:
        scores = fit.scores()
        for doc in ok:
            if status[doc] == "ok":
                values[doc] = float(scores[index[doc]])
                thetas[doc] = float(fit.theta[index[doc]])
    run.columns[name] = values
    run.columns[f"{name}__theta"] = thetas
    run.columns[f"{name}__comparisons"] = counts
    run.columns[f"{name}__status"] = status
    run.types.update({name: pa.float64(), f"{name}__theta": pa.float64(), f"{name}__comparisons": pa.int64()})
    run.comparisons[name] = rows
    run.rated[name] = sum(s == "ok" for s in status)
    run.final_failures[name] = sum(s in ("failed", "malformed") for s in status)
    run.complete = run.complete and not pending
    run.meta[name] = {
        "key": criterion.key,
        "kind": "pairwise",
        "version": criterion.version,
        "comparisons_per_doc": k,
        "pairs": len(pairs),
        "pairs_answered": len(comparisons),
        "prior": prior,
        "mean_p_first": float(np.mean(p_first)) if p_first else None,
        "position_bias": float(np.mean(biases)) if biases else None,
        "bt_iterations": fit.iterations if fit is not None else 0,
        "bt_converged": fit.converged if fit is not None else None,
    }
