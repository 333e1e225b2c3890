"""The bounded publish path (per-source-shard parts, k-way merge tree, one release shard held) gives the bytes
of the in-memory path (concatenate every source shard, stable sort by (domain, id), slice into shards), and
holds no more rows when the mixture has more source shards."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa

from tasks.publish import PublishConfig, publish_mixture
from tasks.publish.contents import add_sums, group_stats, stats_of
from tasks.publish.mixture import load_mixture, materialise_source_shard, source_shard_tasks
from tasks.publish.staging import stage_shards
from tasks.publish.streamed import PartTask, ReleaseShardWriter, merge_parts, write_part
from tasks.storage import Store, write_json_atomic, write_parquet_atomic

DOMAINS = ("a", "b", "c", "d")


def _store(root: Path, n_shards: int, rows_per_shard: int, seed: int) -> Store:
    """Source shards over two snapshots whose ids overlap (ties: the same id in several shards, with different
    text), mixture rows over several domains, zero repetitions and a missing document per shard."""
    store = Store(str(root))
    rng = random.Random(seed)
    pool = [f"id{rng.randrange(10**6):07d}" for _ in range(rows_per_shard * 2)]
    for s in range(n_shards):
        snapshot, shard = ("CC-A" if s % 2 else "CC-B"), f"s{s:03d}"
        ids = sorted(set(rng.sample(pool, rows_per_shard)))
        docs = pa.table(
            {
                "id": ids,
                "url": [f"http://x/{i}" for i in ids],
                "text": [f"text {i} of shard {s} " * rng.randrange(1, 30) for i in ids],
                "n_tokens": [rng.randrange(1, 500) for _ in ids],
            }
        )
        write_parquet_atomic(store.document_shard(snapshot, shard), docs)
        chosen = [*ids[: len(ids) * 3 // 4], f"missing-{shard}"]
        rows = pa.table(
            {
                "id": chosen,
                "snapshot": [snapshot] * len(chosen),
                "shard": [shard] * len(chosen),
                "repetitions": [rng.randrange(0, 4) for _ in chosen],
                "domain": [rng.choice(DOMAINS) for _ in chosen],
            }
        )
        write_parquet_atomic(f"{store.mixtures('syn')}/documents/{snapshot}/{shard}.parquet", rows)
    write_json_atomic(
        f"{store.mixtures('syn')}/summary.json", {"name": "syn", "seed": 1, "spec": {"kind": "x"}}
    )
    return store


def _reference(store: Store, out: Path, max_rows: int) -> tuple[pa.Table, list[tuple[str, str, int]]]:
    """Today's in-memory path: every source shard's rows concatenated and stably sorted, then sliced."""
    tasks_ = source_shard_tasks(store, load_mixture(store, "syn"))
    tables = [t for t in (materialise_source_shard(task).table for task in tasks_) if len(t)]
    table = pa.concat_tables(tables).sort_by([("domain", "ascending"), ("id", "ascending")])
    staged = stage_shards(table, str(out), max_rows)
    return table, [(s.entry.path, s.entry.sha256, s.entry.rows) for s in staged]


def _parts(store: Store, parts: Path) -> tuple[list[str], list[object]]:
    tasks_ = source_shard_tasks(store, load_mixture(store, "syn"))
    results = [write_part(PartTask(t, str(parts / f"{i:06d}.parquet"))) for i, t in enumerate(tasks_)]
    return [r.url for r in results if r.url], list(results)


def test_streamed_release_shards_are_the_in_memory_bytes(tmp_path: Path) -> None:
    store = _store(tmp_path / "store", n_shards=9, rows_per_shard=60, seed=9)
    table, expected = _reference(store, tmp_path / "reference", max_rows=17)
    assert len(pa.table({"id": table["id"]}).group_by("id").aggregate([([], "count_all")])) < len(
        table
    )  # ties
    assert len({e[0] for e in expected}) > 4 and len(set(table["domain"].to_pylist())) == len(DOMAINS)

    for batch_rows, fan_in in [(5, 3), (1024, 32), (7, 2)]:  # merge trees of depth 2, 0 and 3
        urls, results = _parts(store, tmp_path / f"parts-{batch_rows}")
        writer = merge_parts(
            urls, str(tmp_path / f"streamed-{batch_rows}"), 17, batch_rows=batch_rows, fan_in=fan_in
        )
        got = [(s.entry.path, s.entry.sha256, s.entry.rows) for s in writer.staged]
        assert got == expected
        for path, _, _ in expected:
            streamed = (tmp_path / f"streamed-{batch_rows}" / path).read_bytes()
            assert streamed == (tmp_path / "reference" / path).read_bytes()
        sums: dict[str, tuple[int, int, int, int]] = {}
        for r in results:
            add_sums(sums, r.domains)  # type: ignore[attr-defined]
        assert stats_of(sums) == group_stats(table, "domain")  # the manifest's stats, exact per-part sums


def test_publish_gives_the_in_memory_shards(tmp_path: Path) -> None:
    store = _store(tmp_path / "store", n_shards=12, rows_per_shard=40, seed=12)
    _, expected = _reference(store, tmp_path / "reference", max_rows=17)
    config = PublishConfig(
        store=store.root, name="syn", target=str(tmp_path / "pub"), max_rows_per_shard=17, report=False,
        max_missing_fraction=0.5,
    )  # fmt: skip
    first = publish_mixture(config)
    assert [(s.path, s.sha256, s.rows) for s in first.manifest.shards] == expected
    again = publish_mixture(config)
    assert again.already_published and again.version == first.version == 1
    assert not list((tmp_path / "store").glob("_publish*"))  # in-process parts stay in the staging folder


class _Tracking(ReleaseShardWriter):
    """Samples Arrow's allocated bytes at every release shard it writes."""

    peak_bytes = 0

    def flush(self) -> None:
        self.peak_bytes = max(self.peak_bytes, pa.total_allocated_bytes())
        super().flush()


def test_rows_and_memory_held_do_not_grow_with_source_shards(tmp_path: Path) -> None:
    measured, in_memory = {}, {}
    for n in (4, 32):
        store = _store(tmp_path / f"store{n}", n_shards=n, rows_per_shard=200, seed=n)
        urls, _ = _parts(store, tmp_path / f"parts{n}")
        baseline = pa.total_allocated_bytes()
        writer = merge_parts(
            urls, str(tmp_path / f"out{n}"), 50, batch_rows=16, fan_in=4, writer=_Tracking(str(tmp_path / f"out{n}"), 50, "part")
        )  # fmt: skip
        assert isinstance(writer, _Tracking)
        release = sum(s.entry.rows for s in writer.staged)
        measured[n] = (writer.peak_rows, writer.peak_bytes - baseline, release)
        in_memory[n] = _reference(store, tmp_path / f"reference{n}", 50)[0].nbytes  # what the old path held
    (rows4, bytes4, release4), (rows32, bytes32, release32) = measured[4], measured[32]
    assert release32 > 6 * release4  # the release grows ~8x ...
    assert rows4 == rows32 == 50  # ... one release shard held either way
    assert bytes32 < 1.5 * max(bytes4, 1)  # and Arrow memory with it, not with the release
    assert in_memory[32] > 6 * in_memory[4] and in_memory[32] > 10 * bytes32  # the old path held the release
    print(f"streamed (rows, arrow bytes, release rows): {measured}; in-memory table bytes: {in_memory}")


def test_cluster_publish_puts_parts_under_the_store_and_gives_the_same_shards(tmp_path: Path) -> None:
    from tasks.runner import ClusterConfig

    store = _store(tmp_path / "store", n_shards=5, rows_per_shard=40, seed=5)
    _, expected = _reference(store, tmp_path / "reference", max_rows=17)
    config = PublishConfig(
        store=store.root, name="syn", target=str(tmp_path / "pub"), max_rows_per_shard=17, report=False,
        max_missing_fraction=0.5, cluster=ClusterConfig(n_workers=1),
    )  # fmt: skip
    result = publish_mixture(config)
    assert [(s.path, s.sha256, s.rows) for s in result.manifest.shards] == expected
    assert (tmp_path / "store" / "_publish").is_dir()  # the workers wrote their parts there ...
    assert not list((tmp_path / "store" / "_publish").rglob("*"))  # ... and the merge removed them
