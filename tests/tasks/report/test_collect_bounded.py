"""Report collection stays bounded and unbiased as the corpus grows: the pre-mixing pool and the mixture's
documents are seeded bottom-k samples drawn from every shard (not the first shards), the domain shares exact."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from traced_peak import traced_peak

from tasks.report import ReportInputs, collect_inputs
from tasks.report.samples import BottomK
from tasks.storage import Store, write_json_atomic, write_parquet_atomic

SNAP = "CC-SYN-2024-01"
CRITERIA = ("educational_value", "professionalism", "readability", "reasoning", "cleanliness")
Collect = Callable[..., ReportInputs]


def _store(root: Path, shards: int, per_shard: int) -> Store:
    """Shard ``s`` scores every document ``s`` on every criterion, in domain A (first half) or B (second); the
    mixture keeps every second document of every shard once."""
    store = Store(str(root))
    mixture = store.mixtures("syn")
    for s in range(shards):
        shard = f"shard-{s:04d}"
        ids = [f"{s:04d}-{i:06d}" for i in range(per_shard)]
        write_parquet_atomic(
            store.document_shard(SNAP, shard),
            pa.table({"id": ids, "n_tokens": pa.array([10] * per_shard, pa.int64())}),
        )
        domain = "A" if s < shards // 2 else "B"
        scores = {"id": ids, "domain": [domain] * per_shard, "model_version": ["m1"] * per_shard}
        write_parquet_atomic(
            store.attribute_shard("scores", SNAP, shard),
            pa.table({**scores, **{c: [float(s)] * per_shard for c in CRITERIA}}),
        )
        kept = ids[::2]
        rows = {"id": kept, "snapshot": [SNAP] * len(kept), "shard": [shard] * len(kept)}
        write_parquet_atomic(
            f"{mixture}/documents/{SNAP}/{shard}.parquet",
            pa.table({**rows, "repetitions": pa.array([1] * len(kept), pa.int32())}),
        )
    write_json_atomic(f"{mixture}/summary.json", {"name": "syn", "snapshots": [SNAP]})
    return store


def _check_unbiased(tmp_path: Path, collect: Collect) -> None:
    store = _store(tmp_path, shards=10, per_shard=100)
    inputs = collect(store, "syn", max_pool_rows=200)  # 1,000 pool documents, 500 in the mixture
    assert inputs.domains_before == pytest.approx({"A": 0.5, "B": 0.5})  # exact sums over every shard
    assert inputs.domains_after == pytest.approx({"A": 0.5, "B": 0.5})
    edu = next(s for s in inputs.scores if s.criterion == "educational_value")
    centres = [(a + b) / 2 for a, b in zip(edu.edges, edu.edges[1:], strict=False)]
    for hist in (edu.before, edu.after):  # a sample of all ten shards: about half its mass at scores >= 5
        upper = sum(h for c, h in zip(centres, hist, strict=True) if c >= 4.5)
        assert 0.35 < upper < 0.65, hist
    assert any("seeded random sample of 200 of 1,000" in n for n in inputs.notes)
    assert inputs.totals == {"unique_documents": 500, "documents": 500}
    assert collect(store, "syn", max_pool_rows=200) == inputs  # reproducible


def test_the_pool_is_a_sample_of_every_shard_not_the_first_ones(tmp_path: Path) -> None:
    _check_unbiased(tmp_path, collect_inputs)


def _peak_bytes(root: Path, warm: Path) -> int:
    """The peak of Arrow's allocations plus Python's during one collection of the store at ``root`` (in a child:
    tests/traced_peak.py); a first collection of ``warm`` keeps imports and caches out of the measurement."""
    _, peak, arrow_peak = traced_peak(
        setup=(
            "import pyarrow as pa\nfrom tasks.report import collect_inputs\nfrom tasks.storage import Store\n"
            "pool = pa.proxy_memory_pool(pa.default_memory_pool())"
        ),
        warm=f"collect_inputs(Store({str(warm)!r}), 'syn', max_pool_rows=500)\npa.set_memory_pool(pool)",
        call=f"[collect_inputs(Store({str(root)!r}), 'syn', max_pool_rows=500), 0][1]",
        extra="pool.max_memory()",
    )
    return peak + int(arrow_peak)


def _check_bounded(tmp_path: Path) -> tuple[int, int]:
    _store(tmp_path / "warm", 2, 100)
    _store(tmp_path / "small", 4, 4_000)
    _store(tmp_path / "large", 32, 4_000)
    small = _peak_bytes(tmp_path / "small", tmp_path / "warm")
    large = _peak_bytes(tmp_path / "large", tmp_path / "warm")
    assert large < 1.5 * small, f"peak {large:,} bytes for 32 shards vs {small:,} for 4"
    return small, large


def test_collection_memory_does_not_grow_with_the_corpus(tmp_path: Path) -> None:
    """16,000 vs 128,000 documents (half of them in the mixture): the peak stays that of one shard plus the two
    500-row samples (reading every mixture row and every mixture document's scores held 8x as many)."""
    _check_bounded(tmp_path)


def test_bottom_k_is_order_free_and_exact_below_k() -> None:
    parts = [pa.table({"id": [f"{s}-{i}" for i in range(50)], "v": [s] * 50}) for s in range(6)]
    forward, backward, whole = BottomK(40, seed=3), BottomK(40, seed=3), BottomK(1_000, seed=3)
    for part in parts:
        forward.add(part)
        whole.add(part)
    for part in reversed(parts):
        backward.add(part)
    a, b = forward.table(), backward.table()
    assert a is not None and b is not None and len(a) == 40 and forward.sampled
    assert sorted(a["id"].to_pylist()) == sorted(b["id"].to_pylist())  # the same sample, whatever the order
    assert whole.table() == pa.concat_tables(parts) and not whole.sampled  # below k: every row, in order
    other = BottomK(40, seed=4)
    for part in parts:
        other.add(part)
    t = other.table()
    assert t is not None and sorted(t["id"].to_pylist()) != sorted(a["id"].to_pylist())
