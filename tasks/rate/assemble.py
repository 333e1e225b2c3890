"""The rate stage's output table: per document and criterion the kept score, the full and masked readings of the
consistency check, statuses, and the ``injection_suspected`` flag (see :mod:`tasks.rate.stage`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from tasks.rate.cache import RatingCache
from tasks.rate.criteria import Criterion, text_hash


class _HasValue(Protocol):
    @property
    def value(self) -> float: ...


_R = TypeVar("_R", bound=_HasValue)


@dataclass
class Doc:
    id: str
    text: str  # prepared: normalised, whitespace collapsed, truncated (never cut otherwise)
    status: str  # ok | empty | non_text
    orig_chars: int
    truncated: bool
    doc_hash: str
    masked_text: str | None = None  # the text with its suspicious spans masked (consistency check)
    suspicious: int = 0

    @property
    def masked_hash(self) -> str | None:
        return text_hash(self.masked_text) if self.masked_text is not None else None


def checked_reading(full: _R, masked: _R | None, tolerance: float) -> tuple[_R, bool]:
    """The consistency check: (the reading kept, flagged). The kept reading is the lower of the two, so that a
    suspicious span can never raise a page's score; the page is flagged when masking lowers its score by more
    than ``tolerance`` (it was steering the rater)."""
    if masked is None or masked.value >= full.value:
        return full, False
    return masked, full.value - masked.value > tolerance


def assemble(
    sample: pa.Table,
    docs: list[Doc],
    criteria: list[Criterion],
    caches: dict[str, RatingCache],
    statuses: dict[tuple[str, str], str],
    tolerance: float,
) -> tuple[pa.Table, dict[str, int], dict[str, int], list[bool]]:
    """The ratings table. A score criterion's value is the lower of the full text's and the masked text's
    score; the page is flagged when the masked one is lower by more than ``tolerance`` × the range (see
    :func:`checked_reading`). A page whose masked variant has no answer yet is not rated yet."""
    cols: dict[str, list[Any]] = {
        "id": sample.column("id").to_pylist(),
        "snapshot": sample.column("snapshot").to_pylist(),
        "shard": sample.column("shard").to_pylist(),
        "url": sample.column("url").to_pylist(),
        "language": sample.column("language").to_pylist(),
        "stratum": sample.column("stratum").to_pylist(),
        "split": sample.column("split").to_pylist(),
        "text": [d.text for d in docs],
        "doc_hash": [d.doc_hash for d in docs],
        "doc_status": [d.status for d in docs],
        "orig_chars": [d.orig_chars for d in docs],
        "sent_chars": [len(d.text) for d in docs],
        "truncated": [d.truncated for d in docs],
        "suspicious_spans": [d.suspicious for d in docs],
    }
    types: dict[str, pa.DataType] = {
        "orig_chars": pa.int64(),
        "sent_chars": pa.int64(),
        "truncated": pa.bool_(),
        "suspicious_spans": pa.int64(),
        "injection_suspected": pa.bool_(),
    }
    flagged = [False] * len(docs)
    rated: dict[str, int] = {}
    final_failures: dict[str, int] = {}
    for c in criteria:
        cache = caches[c.name]
        values: list[float | None] = []
        labels: list[str | None] = []
        probs: list[str | None] = []
        status: list[str] = []
        masked_values: list[float | None] = []
        full_values: list[float | None] = []
        lo, hi = c.value_range
        for i, d in enumerate(docs):
            entry = cache.get(d.doc_hash) if d.status == "ok" else None
            masked_key = d.masked_hash if c.kind != "choice" else None
            masked = cache.get(masked_key) if masked_key is not None else None
            masked_values.append(masked.value if masked is not None else None)
            full_values.append(entry.value if entry is not None else None)
            if entry is not None and masked_key is not None and masked is None:
                values.append(None)  # the consistency check is still owed
                labels.append(None)
                probs.append(None)
                status.append(statuses.get((c.name, masked_key), "pending"))
            elif entry is not None:
                use, moved = checked_reading(entry, masked, tolerance * (hi - lo))
                flagged[i] = flagged[i] or moved
                values.append(use.value)
                labels.append(use.label)
                probs.append(json.dumps(use.probs, sort_keys=True))
                status.append("ok")
            else:
                values.append(None)
                labels.append(None)
                probs.append(None)
                status.append(d.status if d.status != "ok" else statuses.get((c.name, d.doc_hash), "pending"))
        rated[c.name] = sum(s == "ok" for s in status)
        final_failures[c.name] = sum(s in ("malformed", "failed") for s in status)
        if c.kind == "choice":
            cols[c.name] = labels
            cols[f"{c.name}_score"] = values
            types[f"{c.name}_score"] = pa.float64()
            cols[f"{c.name}_probs"] = probs
        else:
            cols[c.name] = values
            types[c.name] = pa.float64()
            cols[f"{c.name}__full"] = full_values
            types[f"{c.name}__full"] = pa.float64()
            cols[f"{c.name}__masked"] = masked_values
            types[f"{c.name}__masked"] = pa.float64()
        cols[f"{c.name}__status"] = status
    cols["injection_suspected"] = flagged
    arrays = {k: pa.array(v, type=types.get(k, pa.string())) for k, v in cols.items()}
    return pa.table(arrays), rated, final_failures, flagged
