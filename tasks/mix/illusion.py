"""The "data-quality illusion" check: what a mixture does to loss on held-out high-quality text, overall and by
quality decile, next to what it does to the downstream-like target sets.

Classifier filtering (top-k by a quality score) can lower loss on benchmark-like targets while the model gets
*worse* on text the classifier scored low, and often no better on the high-quality text it was meant to favour.
For each mixture (the chosen one and the baselines) this module lays out, from proxy models trained on it:

* the loss on every target set and on the objective,
* the loss on held-out documents of the scored corpus, overall and per decile of their quality (decile 10 =
  the best-scored tenth; the quality is the mean of the percentile-normalised criteria unless one criterion is
  named),
* the change of each of these against uniform random sampling (negative = better than uniform).

The result is plain JSON (``report.json`` of a sweep, copied into a mixture's ``summary.json``) plus a long
table (mixture × decile) for plotting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
N_DECILES = 10


@dataclass
class MixtureEvaluation:
    """Proxy results for one mixture, averaged over its proxy seeds."""

    targets: dict[str, float]
    objective: float
    doc_losses: F64  # [n_heldout_docs], NaN where not evaluated
    n_proxies: int


def deciles(quality: F64) -> npt.NDArray[np.int64]:
    """Decile 1..10 of each value by rank within ``quality`` (10 = highest); 0 for NaN."""
    q = np.asarray(quality, dtype=np.float64)
    out = np.zeros(len(q), dtype=np.int64)
    ok = np.isfinite(q)
    n = int(ok.sum())
    if n == 0:
        return out
    ranks = np.empty(n, dtype=np.float64)
    ranks[np.argsort(q[ok], kind="stable")] = np.arange(n)
    out[ok] = np.minimum((ranks * N_DECILES / n).astype(np.int64) + 1, N_DECILES)
    return out


def _weighted_mean(values: F64, weights: F64) -> float:
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return float("nan")
    return float(np.average(values[ok], weights=weights[ok]))


def illusion_report(
    mixtures: Mapping[str, MixtureEvaluation],
    *,
    quality: F64,
    doc_weights: F64,
    quality_name: str,
    objective: str,
    reference: str = "uniform",
) -> dict[str, Any]:
    """The report as JSON-ready data (see the module docstring)."""
    dec = deciles(quality)
    w = np.asarray(doc_weights, dtype=np.float64)
    out: dict[str, Any] = {
        "quality": quality_name,
        "objective": objective,
        "reference": reference,
        "n_heldout_documents": len(dec),
        "deciles": [
            {
                "decile": k,
                "n_documents": int((dec == k).sum()),
                "quality_min": float(np.min(quality[dec == k])) if (dec == k).any() else None,
                "quality_max": float(np.max(quality[dec == k])) if (dec == k).any() else None,
            }
            for k in range(1, N_DECILES + 1)
        ],
        "mixtures": {},
    }
    for name, ev in mixtures.items():
        by_decile = [_weighted_mean(ev.doc_losses[dec == k], w[dec == k]) for k in range(1, N_DECILES + 1)]
        out["mixtures"][name] = {
            "n_proxies": ev.n_proxies,
            "objective_loss": ev.objective,
            "target_losses": dict(ev.targets),
            "heldout_loss": _weighted_mean(ev.doc_losses, w),
            "heldout_loss_by_decile": by_decile,
        }
    ref = out["mixtures"].get(reference)
    if ref is not None:
        for m in out["mixtures"].values():
            m["vs_reference"] = {
                "objective": m["objective_loss"] - ref["objective_loss"],
                "heldout": m["heldout_loss"] - ref["heldout_loss"],
                "top_decile": m["heldout_loss_by_decile"][-1] - ref["heldout_loss_by_decile"][-1],
                "bottom_decile": m["heldout_loss_by_decile"][0] - ref["heldout_loss_by_decile"][0],
                "targets": {
                    t: v - ref["target_losses"].get(t, float("nan")) for t, v in m["target_losses"].items()
                },
            }
    return out


def decile_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The long table: one row per mixture and decile."""
    rows: list[dict[str, Any]] = []
    for name, m in report["mixtures"].items():
        for k, loss in enumerate(m["heldout_loss_by_decile"], start=1):
            rows.append({"mixture": name, "decile": k, "heldout_loss": loss})
    return rows


def quality_of(normalised: F64, criteria: Sequence[str], which: str) -> tuple[F64, str]:
    """The quality used for deciles: one criterion's percentile, or the mean of all (``which == "mean"``)."""
    if which == "mean":
        return normalised.mean(axis=1), "mean of percentile-normalised " + ", ".join(criteria)
    if which not in criteria:
        raise ValueError(f"illusion quality {which!r} is not one of {list(criteria)} or 'mean'")
    return normalised[:, list(criteria).index(which)], f"percentile of {which}"
