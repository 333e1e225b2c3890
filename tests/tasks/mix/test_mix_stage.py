"""The mix stage on a real-text scored corpus (fixture): output format, agreement with the in-memory sampling
function, resumability, immutability, bad input, empty selections, and the CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from quarry_scored_corpus import CorpusInfo, build_scored_corpus

from tasks.cli import main as quarry
from tasks.mix import MixConfig, run_mix
from tasks.mix import stage as stage
from tasks.mix.corpus import list_shards, load_shard
from tasks.mix.sampling import QUALITY_CRITERIA, CorpusStats, repetitions, sampling_values
from tasks.mix.sketch import QuantileSketch
from tasks.mix.specs import DomainParams, QuaDMixSpec
from tasks.runner import ClusterConfig
from tasks.storage import Store, write_parquet_atomic

IN_PROCESS = ClusterConfig(n_workers=0)
BUDGET = {
    "Religion": 90_000,
    "Literature": 70_000,
    "Miscellaneous": 60_000,
    "Technology": 40_000,
    "Education": 40_000,
}


def _quadmix(
    domains: list[str], omega: float = 0.6, eta: float = 1.0, eps: float = 0.05
) -> dict[str, object]:
    rng = np.random.default_rng(3)
    return QuaDMixSpec(
        criteria=QUALITY_CRITERIA,
        domains={
            d: DomainParams(
                alpha=tuple(rng.uniform(0.1, 1, len(QUALITY_CRITERIA))),
                lam=30.0,
                omega=omega,
                eta=eta,
                eps=eps,
            )
            for d in domains
        },
    ).to_json()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> CorpusInfo:
    return build_scored_corpus(tmp_path_factory.mktemp("mixstore"), shared_data, budget=BUDGET, n_shards=3)


def _copy(info: CorpusInfo, dst: Path) -> str:
    shutil.copytree(info.root, dst)
    return str(dst)


def _read_mixture(root: str) -> pa.Table:
    files = sorted(Path(root, "documents").rglob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])


def test_quadmix_mixture_matches_in_memory_function(corpus: CorpusInfo, tmp_path: Path) -> None:
    store = _copy(corpus, tmp_path / "s")
    spec = _quadmix(sorted(corpus.domains))
    result = run_mix(MixConfig(store=store, name="qmix", spec=spec, seed=5, cluster=IN_PROCESS))

    out = _read_mixture(result.root)
    assert out.schema.names == ["id", "snapshot", "shard", "domain", "n_tokens", "repetitions"]
    assert out.schema.field("repetitions").type == pa.int32()
    assert len(list(Path(result.root, "documents", corpus.snapshot).glob("*.parquet"))) == len(corpus.shards)
    reps = dict(zip(out.column("id").to_pylist(), out.column("repetitions").to_pylist(), strict=True))
    assert min(reps.values()) >= 1 and max(reps.values()) >= 2  # eta=1 repeats the best documents

    # the same function applied to the whole corpus in memory (exact ranks) gives the same repetitions
    st = Store(store)
    shards = [load_shard(st, r, criteria=QUALITY_CRITERIA) for r in list_shards(st)]
    ids = np.concatenate([s.ids for s in shards])
    doms = np.concatenate([s.domains for s in shards])
    toks = np.concatenate([s.n_tokens for s in shards])
    scores = np.concatenate([s.scores for s in shards])
    stats = CorpusStats.from_arrays(doms, toks, scores, QUALITY_CRITERIA, max_size=1 << 30)
    from tasks.mix.specs import spec_from_json

    values = sampling_values(
        spec_from_json(spec),
        domains=doms,
        n_tokens=toks,
        scores=scores,
        criteria=QUALITY_CRITERIA,
        stats=stats,
    )
    expected = repetitions(ids.tolist(), values, seed=5)
    expected_map = {i: int(r) for i, r in zip(ids, expected, strict=True) if r > 0}
    assert reps == expected_map

    summary = json.loads(Path(result.summary_url).read_text())
    assert summary["mixture"]["tokens"] == pytest.approx(float(np.sum(expected * toks)))
    assert sum(v["proportion"] for v in summary["domains"].values()) == pytest.approx(1.0)
    assert summary["corpus"]["dropped"]["duplicates"] == corpus.duplicates
    assert summary["corpus"]["documents"] == sum(corpus.domains.values())
    assert set(summary["baselines"]) == {"uniform", "topk"}
    assert summary["baselines"]["topk"]["tokens"] == pytest.approx(
        0.3 * summary["corpus"]["tokens"], rel=0.05
    )
    # duplicates are never mixed
    dup_ids = set()
    for shard in corpus.shards:
        d = pq.read_table(Path(store, "attributes", "dedup", corpus.snapshot, f"{shard}.parquet"))
        dup_ids |= {i for i, x in zip(d["id"].to_pylist(), d["is_duplicate"].to_pylist(), strict=True) if x}
    assert dup_ids and not dup_ids & set(reps)


def test_driver_merges_shard_sketches_in_bounded_groups(
    corpus: CorpusInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver never merges every shard's sketches in one call (that held every document's scores of the
    corpus in one process): with ``merge_fan_in=2`` over 3 shards, each merge sees at most 2 parts, the shard
    tasks return counts only (no sketches, no per-domain totals), and the mixture is the same as with the
    default fan-in."""
    store = _copy(corpus, tmp_path / "s")
    spec = _quadmix(sorted(corpus.domains))
    wide = run_mix(MixConfig(store=store, name="wide", spec=spec, seed=5, cluster=IN_PROCESS))

    seen: list[int] = []
    stats_merge, sketch_merge = CorpusStats.merge.__func__, QuantileSketch.merge.__func__  # type: ignore[attr-defined]

    def stats_spy(cls: type[CorpusStats], parts: list[CorpusStats], max_size: int) -> CorpusStats:
        seen.append(len(parts))
        return stats_merge(cls, parts, max_size)  # type: ignore[no-any-return]

    def sketch_spy(
        cls: type[QuantileSketch], parts: list[QuantileSketch], max_size: int = 4096
    ) -> QuantileSketch:
        parts = list(parts)
        seen.append(len(parts))
        return sketch_merge(cls, parts, max_size)  # type: ignore[no-any-return]

    monkeypatch.setattr(CorpusStats, "merge", classmethod(stats_spy))
    monkeypatch.setattr(QuantileSketch, "merge", classmethod(sketch_spy))
    results: list[dict[str, object]] = []
    real_run_shards = stage.run_shards

    def recording_run_shards(*args: object, **kwargs: object) -> list[dict[str, object]]:
        out: list[dict[str, object]] = real_run_shards(*args, **kwargs)  # type: ignore[arg-type]
        results.extend(out)
        return out

    monkeypatch.setattr(stage, "run_shards", recording_run_shards)
    narrow = run_mix(
        MixConfig(store=store, name="narrow", spec=spec, seed=5, merge_fan_in=2, cluster=IN_PROCESS)
    )
    assert len(corpus.shards) == 3 and seen and max(seen) <= 2
    assert results and not any({"stats", "ranks", "domains"} & set(r) for r in results)
    assert narrow.summary["mixture"] == wide.summary["mixture"]
    assert narrow.summary["domains"] == wide.summary["domains"]
    assert _read_mixture(narrow.root).equals(_read_mixture(wide.root))


def test_rerun_is_idempotent_resumes_and_names_are_immutable(corpus: CorpusInfo, tmp_path: Path) -> None:
    store = _copy(corpus, tmp_path / "s")
    spec = _quadmix(sorted(corpus.domains))
    cfg = MixConfig(store=store, name="again", spec=spec, cluster=IN_PROCESS)
    first = run_mix(cfg)
    shard0 = Path(first.root, "documents", corpus.snapshot, f"{corpus.shards[0]}.parquet")
    before = shard0.read_bytes()
    mtime = Path(first.summary_url).stat().st_mtime_ns
    assert run_mix(cfg).summary == first.summary
    assert Path(first.summary_url).stat().st_mtime_ns == mtime  # finished: nothing redone

    # a crash after shard 0 was lost: its output and marker are gone, the summary too
    shard0.unlink()
    os.unlink(Path(store, "_markers", "mix", "again", f"{corpus.snapshot}__{corpus.shards[0]}.done"))
    os.unlink(first.summary_url)
    again = run_mix(cfg)
    assert shard0.read_bytes() == before
    assert again.summary["mixture"] == first.summary["mixture"]

    with pytest.raises(ValueError, match="immutable"):
        run_mix(
            MixConfig(
                store=store,
                name="again",
                spec=_quadmix(sorted(corpus.domains), omega=0.2),
                cluster=IN_PROCESS,
            )
        )


def test_bad_shards_are_counted_not_fatal(corpus: CorpusInfo, tmp_path: Path) -> None:
    store = _copy(corpus, tmp_path / "s")
    st = Store(store)
    snap = corpus.snapshot
    # shard 0: no scores at all
    os.unlink(st.attribute_shard("scores", snap, corpus.shards[0]))
    # shard 1: scores rows in another order, two NaN scores, one row missing
    s1 = pq.read_table(st.attribute_shard("scores", snap, corpus.shards[1]))
    ev = s1.column("educational_value").to_pylist()
    ev[0] = float("nan")
    ev[1] = None
    s1 = s1.set_column(s1.schema.get_field_index("educational_value"), "educational_value", pa.array(ev))
    s1 = s1.take(pa.array(list(reversed(range(s1.num_rows - 1)))))  # reversed, last row dropped
    write_parquet_atomic(st.attribute_shard("scores", snap, corpus.shards[1]), s1)
    result = run_mix(
        MixConfig(store=store, name="bad", spec={"kind": "uniform", "rate": 1.0}, cluster=IN_PROCESS)
    )
    summary = result.summary
    assert summary["corpus"]["shards_skipped"] == {f"{snap}/{corpus.shards[0]}": "no scores attributes"}
    assert summary["corpus"]["dropped"]["invalid_scores"] == 2
    assert summary["corpus"]["dropped"]["missing_scores"] == 1
    # every usable document of shards 1 and 2 is in the uniform mixture exactly once
    out = _read_mixture(result.root)
    assert set(out.column("repetitions").to_pylist()) == {1}
    assert out.num_rows == summary["corpus"]["documents"]
    assert not Path(result.root, "documents", snap, f"{corpus.shards[0]}.parquet").exists()


def test_empty_selection_and_domain_without_documents(corpus: CorpusInfo, tmp_path: Path) -> None:
    store = _copy(corpus, tmp_path / "s")
    nothing = _quadmix(sorted(corpus.domains), omega=0.0, eps=0.0)
    result = run_mix(MixConfig(store=store, name="nothing", spec=nothing, cluster=IN_PROCESS))
    assert result.documents == 0 and result.tokens == 0
    assert all(p == 0 for p in result.proportions.values())
    assert _read_mixture(result.root).num_rows == 0  # empty shards, still written with the schema

    weights = {"Literature": 1.0, "Law": 1.0}  # Law: no documents in the corpus
    reg = run_mix(
        MixConfig(store=store, name="regmix", spec={"kind": "regmix", "weights": weights}, cluster=IN_PROCESS)
    )
    law = reg.summary["domains"]["Law"]
    assert law["corpus_tokens"] == 0 and law["mixture_tokens"] == 0 and law["proportion"] == 0
    assert reg.proportions["Literature"] == pytest.approx(1.0)
    # Literature gets the half of the corpus' tokens that its weight asks for (Law's half is lost)
    lit = reg.summary["domains"]["Literature"]
    assert lit["mixture_tokens"] == pytest.approx(0.5 * reg.summary["corpus"]["tokens"], rel=0.05)
    assert sorted(reg.summary["unparameterised_domains"]) == sorted(set(corpus.domains) - {"Literature"})


def test_cli_baselines_on_a_dask_cluster_with_clusters_as_domains(shared_data: Path, tmp_path: Path) -> None:
    budget = {"Religion": 30_000, "Literature": 30_000, "Technology": 20_000}
    info = build_scored_corpus(tmp_path / "s", shared_data, budget=budget, n_shards=2, with_clusters=True)
    code = quarry(
        [
            "--store",
            info.root,
            "mix",
            "--name",
            "top",
            "--baseline",
            "topk",
            "--criterion",
            "cleanliness",
            "--keep",
            "0.5",
            "--domain-column",
            "cluster",
            "--workers",
            "1",
        ]
    )
    assert code == 0
    summary = json.loads(Path(info.root, "mixtures", "top", "summary.json").read_text())
    assert all(d.startswith("cluster-") for d in summary["domains"])
    assert summary["mixture"]["tokens"] == pytest.approx(0.5 * summary["corpus"]["tokens"], rel=0.1)
    # classifier filtering keeps the clean documents: the fixture's corrupted ones score low on cleanliness
    out = _read_mixture(str(Path(info.root, "mixtures", "top")))
    kept = set(out.column("id").to_pylist())
    scores = pa.concat_tables(
        [pq.read_table(p) for p in sorted(Path(info.root, "attributes", "scores").rglob("*.parquet"))]
    )
    dedup = pa.concat_tables(
        [pq.read_table(p) for p in sorted(Path(info.root, "attributes", "dedup").rglob("*.parquet"))]
    )
    dups = {i for i, d in zip(dedup["id"].to_pylist(), dedup["is_duplicate"].to_pylist(), strict=True) if d}
    clean = {
        i: c
        for i, c in zip(scores["id"].to_pylist(), scores["cleanliness"].to_pylist(), strict=True)
        if i not in dups
    }
    dropped = set(clean) - kept
    assert min(clean[i] for i in kept) >= max(clean[i] for i in dropped)  # a threshold on the score
    assert np.mean([clean[i] for i in kept]) > np.mean(list(clean.values()))

    assert quarry(["--store", info.root, "mix", "--name", "x", "--sweep", "latest"]) == 2  # no sweep yet
