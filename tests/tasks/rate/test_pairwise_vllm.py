"""Pairwise rating (QuRating) end to end against the real vLLM-on-CPU server: 8 short pages, 2 comparisons each,
both orders asked (16 prompts), Bradley–Terry scores in the ratings table, a cached rerun that asks nothing, and a
fastText model distilled from the pairwise scores like from any other criterion."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fixtures_vllm import (  # noqa: F401  (vllm_server is a fixture)
    VllmServer,
    mixed_corpus,
    vllm_server_fixture,
    write_documents,
)

from tasks.distill import DistillConfig, run_distill
from tasks.rate import RateConfig, run_rate
from tasks.rate.cache import RatingCache
from tasks.rate.pairwise import PAIRWISE_CRITERIA, pair_key
from tasks.storage import Store

pytestmark = pytest.mark.integration

NAME = "pairwise_educational_value"


def test_pairwise_rating_end_to_end(tmp_path: Path, shared_data: Path, vllm_server: VllmServer) -> None:
    docs = mixed_corpus(shared_data, en_web=3, per_register=1, wiki=2)
    write_documents(tmp_path, docs, n_shards=1)
    config = RateConfig(
        store=str(tmp_path),
        server_url=vllm_server.url,
        criteria=(NAME,),
        sample_size=len(docs),
        name="pairs",
        max_doc_tokens=40,
        pairwise_comparisons=2,
        batch_size=8,
        concurrency=2,
        max_retries=2,
    )
    first = run_rate(config)
    assert first.complete and first.n_sampled == 8 and first.rated[NAME] == 8
    assert first.stats["ok"] == 16 and first.malformed == 0  # 8 pairs (a ring), each asked in both orders

    table = pq.read_table(first.ratings_url).to_pandas()
    assert (table[f"{NAME}__status"] == "ok").all() and (table[f"{NAME}__comparisons"] == 2).all()
    assert table[NAME].between(0, 1, inclusive="neither").all() and table[f"{NAME}__theta"].notna().all()
    meta = json.loads((tmp_path / "ratings" / "pairs" / "meta.json").read_text())
    m = meta["criteria"][NAME]
    assert m["kind"] == "pairwise" and m["pairs"] == 8 and m["pairs_answered"] == 8 and m["bt_converged"]
    assert -0.5 <= m["position_bias"] <= 0.5 and 0 <= m["mean_p_first"] <= 1

    answered = pq.read_table(tmp_path / "ratings" / "pairs" / f"{NAME}.comparisons.parquet").to_pandas()
    assert len(answered) == 8 and answered["p_a_wins"].between(0, 1).all()
    assert (answered["p_a_wins"] == (answered["p_a_forward"] + 1 - answered["p_a_backward"]) / 2).all()

    # both orders of every pair are in the cache
    crit = PAIRWISE_CRITERIA[NAME]
    cache = RatingCache(Store(str(tmp_path)), crit.key, first.model)
    cache.load()
    assert len(cache) == 16
    ordered = {key.split(">")[0] for key in cache._entries}  # every page was Page A at least once
    assert len(ordered) == 8
    for key in list(cache._entries):
        a, b = key.split(">")
        assert cache.get(pair_key(b, a)) is not None

    again = run_rate(config)
    assert again.complete and again.requests == 0 and again.cache_hits == 16
    assert pq.read_table(again.ratings_url).column(NAME).to_pylist() == table[NAME].tolist()

    distilled = run_distill(DistillConfig(store=str(tmp_path), ratings="pairs", min_train_rows=2, epoch=5))
    entry = distilled.models[NAME]
    assert entry["kind"] == "score" and entry["value_range"] == [0.0, 1.0]
    assert (tmp_path / "models" / distilled.version / entry["file"]).is_file()
