"""The rating cache, in the data store: keyed by (prompt template version, model, document hash).

Layout: ``ratings/_cache/<criterion key>/<model slug>/part-<time>-<uid>.parquet``. Each part is written atomically
as soon as a handful of ratings arrive, so a crash or a dead server loses at most one unflushed buffer and a
rerun pays only for documents not yet rated. Parts are append-only; :meth:`RatingCache.compact` merges them
when there are many. The criterion key already carries the template version and a hash of the prompt text.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass

import pyarrow as pa

from tasks.rate.criteria import Reading
from tasks.storage import Store, join, list_files, read_parquet, remove, write_parquet_atomic

SCHEMA = pa.schema(
    [
        ("doc_hash", pa.string()),
        ("value", pa.float64()),
        ("label", pa.string()),
        ("probs", pa.string()),
        ("mass", pa.float64()),
        ("sent_chars", pa.int64()),
        ("shrinks", pa.int64()),
        ("rated_at", pa.float64()),
    ]
)


def model_slug(model: str) -> str:
    """A path-safe, collision-free name for a model id such as ``org/Model-7B`` or a local path."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("._-")[-80:] or "model"
    return f"{clean}-{hashlib.blake2b(model.encode(), digest_size=4).hexdigest()}"


@dataclass(frozen=True)
class CachedRating:
    value: float
    label: str | None
    probs: dict[str, float]
    mass: float
    sent_chars: int
    shrinks: int


class RatingCache:
    def __init__(self, store: Store, criterion_key: str, model: str, flush_every: int = 16) -> None:
        self.directory = store.path("ratings", "_cache", criterion_key, model_slug(model))
        self.flush_every = max(1, flush_every)
        self._entries: dict[str, CachedRating] = {}
        self._buffer: list[dict[str, object]] = []
        self.loaded = False

    def load(self) -> dict[str, CachedRating]:
        for url in list_files(self.directory, (".parquet",), recursive=False):
            if url.rsplit("/", 1)[-1].startswith("."):
                continue
            for row in read_parquet(url).to_pylist():
                self._entries[row["doc_hash"]] = CachedRating(
                    value=float(row["value"]),
                    label=row["label"],
                    probs=json.loads(row["probs"] or "{}"),
                    mass=float(row["mass"]),
                    sent_chars=int(row["sent_chars"]),
                    shrinks=int(row["shrinks"] or 0),
                )
        self.loaded = True
        return self._entries

    def get(self, doc_hash: str) -> CachedRating | None:
        return self._entries.get(doc_hash)

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, doc_hash: str, reading: Reading, sent_chars: int, shrinks: int = 0) -> None:
        entry = CachedRating(
            reading.value, reading.label, dict(reading.probs), reading.mass, sent_chars, shrinks
        )
        self._entries[doc_hash] = entry
        self._buffer.append(
            {
                "doc_hash": doc_hash,
                "value": entry.value,
                "label": entry.label,
                "probs": json.dumps(entry.probs, sort_keys=True),
                "mass": entry.mass,
                "sent_chars": sent_chars,
                "shrinks": shrinks,
                "rated_at": time.time(),
            }
        )
        if len(self._buffer) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=SCHEMA)
        name = f"part-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
        write_parquet_atomic(join(self.directory, name), table)
        self._buffer = []

    def compact(self, max_parts: int = 32) -> None:
        """Merge the parts into one when there are more than ``max_parts`` (written first, then old ones removed)."""
        self.flush()
        parts = [
            u
            for u in list_files(self.directory, (".parquet",), recursive=False)
            if not u.rsplit("/", 1)[-1].startswith(".")
        ]
        if len(parts) <= max_parts:
            return
        tables = [read_parquet(u).cast(SCHEMA) for u in parts]
        merged = pa.concat_tables(tables)
        name = f"part-{time.time_ns()}-{uuid.uuid4().hex[:8]}-merged.parquet"
        write_parquet_atomic(join(self.directory, name), merged)
        for url in parts:
            remove(url)
