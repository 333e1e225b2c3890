"""Grouping a mixture's rows by source shard: every task holds exactly its own shard's rows."""

from __future__ import annotations

import random

import pyarrow as pa

from tasks.publish.mixture import MixtureInput, source_shard_tasks
from tasks.storage import Store


def test_each_source_task_gets_only_its_shards_rows() -> None:
    rng = random.Random(7)
    rows = []
    for snap in ("SNAP-B", "SNAP-A"):
        for shard in range(25):
            for i in range(rng.randint(1, 40)):
                rows.append(
                    (
                        f"{snap}-{shard}-{i:03d}",
                        snap,
                        f"segments__1700000000000.{shard // 10}__warc__{snap}-{shard:05d}.warc",
                        rng.randint(1, 3),
                        f"cluster-{i % 4}",
                    )
                )
    rng.shuffle(rows)
    columns = ["id", "snapshot", "shard", "repetitions", "domain"]
    # Several chunks, as when the mixture is read from one file per shard.
    table = pa.concat_tables(
        pa.table({name: [r[k] for r in rows[i : i + 97]] for k, name in enumerate(columns)})
        for i in range(0, len(rows), 97)
    )
    mixture = MixtureInput(name="m", rows=table, summary={}, files=(), zero_repetition_rows=0)
    tasks = source_shard_tasks(Store("/nonexistent"), mixture)
    assert len(tasks) == 50
    assert sum(len(t.rows) for t in tasks) == len(rows)
    for t in tasks:
        prefix = f"{t.snapshot}-{int(t.shard.rsplit('-', 1)[1].removesuffix('.warc'))}-"
        assert all(i.startswith(prefix) for i in t.rows.column("id").to_pylist()), (t.snapshot, t.shard)
