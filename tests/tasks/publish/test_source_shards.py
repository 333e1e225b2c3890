"""Grouping a mixture's rows by source shard: every task holds exactly its own shard's rows."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa

from tasks.publish.mixture import (
    MixtureInput,
    load_mixture,
    plan_mixture,
    read_shard_rows,
    shard_rows_tasks,
    source_shard_tasks,
)
from tasks.storage import Store, write_json_atomic, write_parquet_atomic


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


def test_workers_read_their_own_rows_as_the_driver_grouped_them(tmp_path: Path) -> None:
    """plan_mixture + read_shard_rows (no row kept in the driver) give every source shard exactly the rows
    source_shard_tasks gives it from the whole table: row files holding several shards, a shard spread over
    files, duplicate ids, zero repetitions and a file without a domain column."""
    store = Store(str(tmp_path))
    rng = random.Random(3)
    files = []
    for f in range(6):
        n = rng.randint(20, 60)
        table = pa.table(
            {
                "id": [f"id-{rng.randrange(40):03d}" for _ in range(n)],
                "snapshot": [rng.choice(["S-A", "S-B"]) for _ in range(n)],
                "shard": [f"sh{rng.randrange(4)}" for _ in range(n)],
                "repetitions": [rng.randrange(0, 3) for _ in range(n)],
                "domain": [rng.choice(["x", "y", "z"]) for _ in range(n)],
            }
        )
        if f == 2:
            table = table.drop_columns(["domain"])
        write_parquet_atomic(f"{store.mixtures('m')}/documents/S/f{f}.parquet", table)
        files.append(table)
    write_json_atomic(f"{store.mixtures('m')}/summary.json", {"name": "m"})

    plan = plan_mixture(store, "m")
    reference = load_mixture(store, "m")
    assert plan.zero_repetition_rows == reference.zero_repetition_rows > 0
    expected = source_shard_tasks(store, reference)
    got = [read_shard_rows(t) for t in shard_rows_tasks(store, plan)]
    assert [(t.snapshot, t.shard) for t in got] == [(t.snapshot, t.shard) for t in expected]
    assert any(len(urls) > 1 for _, _, urls in plan.shards)  # a shard spread over files
    for g, e in zip(got, expected, strict=True):
        assert g.rows.equals(e.rows), (g.snapshot, g.shard)
