"""Where a mixture's files live in the store, and the schema of its rows (``documents/<snapshot>/<shard>.parquet``).

Shared by the mix stage's driver (:mod:`tasks.mix.stage`) and its per-shard passes (:mod:`tasks.mix.passes`).
"""

from __future__ import annotations

import pyarrow as pa

from tasks.mix.corpus import ShardRef
from tasks.storage import CompletionMarkers, Store, join

OUTPUT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("snapshot", pa.string()),
        ("shard", pa.string()),
        ("domain", pa.string()),
        ("n_tokens", pa.int64()),
        ("repetitions", pa.int32()),
    ]
)


class MixPaths:
    def __init__(self, store: str, name: str) -> None:
        self.store = Store(store)
        self.root = self.store.mixtures(name)
        self.config = join(self.root, "config.json")
        self.summary = join(self.root, "summary.json")
        self.stats = join(self.root, "_work", "stats.json")
        self.ranks = join(self.root, "_work", "ranks.json")
        self.markers = CompletionMarkers(self.store.markers("mix", name))

    def shard_out(self, ref: ShardRef) -> str:
        return join(self.root, "documents", ref.snapshot, f"{ref.shard}.parquet")

    def shard_stats(self, ref: ShardRef) -> str:
        return join(self.root, "_work", "stats", ref.snapshot, f"{ref.shard}.json")

    def shard_ranks(self, ref: ShardRef) -> str:
        return join(self.root, "_work", "ranks", ref.snapshot, f"{ref.shard}.json")


def marker_name(ref: ShardRef) -> str:
    return f"{ref.snapshot}__{ref.shard}"
