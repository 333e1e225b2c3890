"""The ``gumbel`` sampling function (QuRating's sampling with temperature in the mix framework): the kept share
of tokens, shard-local determinism, the temperature between top-k and uniform, agreement with exact Gumbel
top-k, and ``quarry mix`` with a gumbel spec on the real-text scored corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from quarry_scored_corpus import build_scored_corpus

from tasks.cli import main as quarry
from tasks.methods.budget import gumbel_topk
from tasks.mix.corpus import list_shards, load_shard
from tasks.mix.gumbel import gumbel_threshold
from tasks.mix.sampling import CorpusStats, repetitions, sampling_values
from tasks.mix.sketch import DEFAULT_SKETCH_SIZE
from tasks.mix.specs import GumbelSpec, TopKSpec, spec_criteria, spec_from_json
from tasks.storage import Store

N = 20_000
CRIT = ("educational_value",)


def _corpus(seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = [f"doc-{i}" for i in range(N)]
    domains = rng.choice(["a", "b", "c"], size=N).astype(object)
    tokens = rng.integers(20, 2000, size=N).astype(np.float64)
    scores = (rng.normal(size=N) * 1.3 + 2.5 + (domains == "a") * 0.5).reshape(-1, 1)
    return ids, domains, tokens, scores


def _values(spec: GumbelSpec | TopKSpec, seed: int = 0, parts: int = 1) -> np.ndarray:
    """Values computed shard by shard (``parts`` shards) against the merged statistics, as the stage does."""
    ids, domains, tokens, scores = _corpus()
    chunks = np.array_split(np.arange(N), parts)
    stats = CorpusStats.merge(
        [
            CorpusStats.from_arrays(domains[c], tokens[c], scores[c], CRIT, max_size=DEFAULT_SKETCH_SIZE)
            for c in chunks
        ],
        max_size=DEFAULT_SKETCH_SIZE,
    )
    out = [
        sampling_values(
            spec,
            domains=domains[c],
            n_tokens=tokens[c],
            scores=scores[c],
            criteria=CRIT,
            stats=stats,
            ids=[ids[i] for i in c],
            seed=seed,
        )
        for c in chunks
    ]
    return np.concatenate(out)


def test_spec_json_round_trip_and_validation() -> None:
    spec = GumbelSpec(criterion="educational_value", temperature=2.0, keep_fraction=0.3)
    assert spec_from_json(spec.to_json()) == spec
    assert spec.to_json()["kind"] == "gumbel"
    assert spec_criteria(spec) == ("educational_value",)
    parsed = spec_from_json({"kind": "gumbel", "criterion": "x", "temperature": 1, "keep_fraction": 0.5})
    assert isinstance(parsed, GumbelSpec) and parsed.normalize
    with pytest.raises(ValueError, match="temperature"):
        GumbelSpec(criterion="x", temperature=-1.0, keep_fraction=0.3)
    with pytest.raises(ValueError, match="keep_fraction"):
        GumbelSpec(criterion="x", temperature=1.0, keep_fraction=1.5)
    _, domains, tokens, scores = _corpus()
    stats = CorpusStats.from_arrays(domains, tokens, scores, CRIT, max_size=64)
    with pytest.raises(ValueError, match="ids"):
        sampling_values(spec, domains=domains, n_tokens=tokens, scores=scores, criteria=CRIT, stats=stats)


@pytest.mark.parametrize("keep", [0.1, 0.3, 0.7])
def test_kept_share_of_tokens_and_shard_local_determinism(keep: float) -> None:
    spec = GumbelSpec(criterion="educational_value", temperature=2.0, keep_fraction=keep)
    _, _, tokens, _ = _corpus()
    whole = _values(spec, seed=7)
    assert np.array_equal(whole, _values(spec, seed=7, parts=4))  # shards decide alone, identically
    assert not np.array_equal(whole, _values(spec, seed=8))
    share = float((whole * tokens).sum() / tokens.sum())
    assert share == pytest.approx(keep, abs=0.02)


def test_temperature_between_top_k_and_uniform_and_agreement_with_exact_gumbel_top_k() -> None:
    _, _, tokens, scores = _corpus()
    s = scores[:, 0]
    topk = _values(TopKSpec(criterion="educational_value", keep_fraction=0.3))
    assert np.array_equal(_values(GumbelSpec("educational_value", 0.0, 0.3)), topk)
    cold = _values(GumbelSpec("educational_value", 0.02, 0.3))
    assert (cold * topk).sum() / topk.sum() > 0.95
    z = (s - s.mean()) / s.std()
    means = []
    for tau in (0.5, 2.0, 8.0):
        ours = [_values(GumbelSpec("educational_value", tau, 0.3), seed=k) for k in range(3)]
        exact = [gumbel_topk(z, tokens, 0.3 * tokens.sum(), seed=k, temperature=tau) for k in range(3)]
        m_ours = float(np.mean([z[v > 0].mean() for v in ours]))
        m_exact = float(np.mean([z[v > 0].mean() for v in exact]))
        assert m_ours == pytest.approx(m_exact, abs=0.03), (tau, m_ours, m_exact)
        means.append(m_ours)
    assert means[0] > means[1] > means[2] > 0.0


def test_threshold_solves_the_expected_share() -> None:
    _, domains, tokens, scores = _corpus()
    stats = CorpusStats.from_arrays(domains, tokens, scores, CRIT, max_size=DEFAULT_SKETCH_SIZE)
    t_lo = gumbel_threshold(GumbelSpec("educational_value", 1.0, 0.6), stats)
    t_hi = gumbel_threshold(GumbelSpec("educational_value", 1.0, 0.2), stats)
    assert t_lo < t_hi
    assert gumbel_threshold(GumbelSpec("educational_value", 1.0, 1.0), stats) == -np.inf


def test_quarry_mix_with_a_gumbel_spec(shared_data: Path, tmp_path: Path) -> None:
    info = build_scored_corpus(
        tmp_path / "store", shared_data, budget={"Religion": 40_000, "Literature": 40_000}, n_shards=2
    )
    spec = GumbelSpec(criterion="cleanliness", temperature=1.0, keep_fraction=0.4)
    code = quarry(
        [
            "--store",
            info.root,
            "mix",
            "--name",
            "g",
            "--baseline",
            "gumbel",
            "--criterion",
            "cleanliness",
            "--keep",
            "0.4",
            "--temperature",
            "1.0",
            "--seed",
            "3",
            "--workers",
            "0",
        ]
    )
    assert code == 0
    summary = json.loads(Path(info.root, "mixtures", "g", "summary.json").read_text())
    assert summary["spec"] == spec.to_json()
    files = sorted(Path(info.root, "mixtures", "g", "documents").rglob("*.parquet"))
    got = {
        i: r
        for f in files
        for i, r in zip(
            pq.read_table(f)["id"].to_pylist(), pq.read_table(f)["repetitions"].to_pylist(), strict=True
        )
    }
    st = Store(info.root)
    shards = [load_shard(st, r, criteria=("cleanliness",)) for r in list_shards(st)]
    ids = np.concatenate([s.ids for s in shards]).tolist()
    doms = np.concatenate([s.domains for s in shards])
    toks = np.concatenate([s.n_tokens for s in shards])
    scores = np.concatenate([s.scores for s in shards])
    stats = CorpusStats.from_arrays(doms, toks, scores, ("cleanliness",), max_size=DEFAULT_SKETCH_SIZE)
    values = sampling_values(
        spec,
        domains=doms,
        n_tokens=toks,
        scores=scores,
        criteria=("cleanliness",),
        stats=stats,
        ids=ids,
        seed=3,
    )
    expected = {i: int(r) for i, r in zip(ids, repetitions(ids, values, 3), strict=True) if r > 0}
    assert got == expected and set(got.values()) == {1}
    assert 0.2 < sum(toks[values > 0]) / toks.sum() < 0.6
