"""rater_distill under Airflow (dag.test(), SQLite metadata DB) against the real vLLM-on-CPU server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fixtures_vllm import VllmServer, mixed_corpus, vllm_server_fixture, write_documents  # noqa: F401

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_rater_distill_rates_then_distills(
    airflow_db: str, shared_data: Path, tmp_path: Path, vllm_server: VllmServer
) -> None:
    store = tmp_path / "store"
    # 18 pages, each read through 48 tokens: enough for 10+ training rows per criterion (min_train_rows) and a
    # held-out split; what is checked (every page rated, both models distilled, the card's held-out size,
    # the latest pointer) does not depend on more pages or longer reads.
    write_documents(store, mixed_corpus(shared_data, en_web=10, per_register=2, wiki=2), n_shards=2)
    sys.path.insert(0, str(REPO / "dags"))
    import rater_distill

    run = rater_distill.rater_distill_dag.test(
        run_conf={
            "store": str(store),
            "server_url": vllm_server.url,
            "criteria": ["educational_value", "domain"],
            "sample_size": 18,
            "max_doc_tokens": 48,
            "ratings_name": "dagtest",
            "min_train_rows": 10,
            "dim": 8,
            "model_version": "dag-v1",
        }
    )
    assert run.state == "success"
    ratings = pq.read_table(store / "ratings" / "dagtest" / "ratings.parquet").to_pandas()
    assert len(ratings) == 18 and (ratings["educational_value__status"] == "ok").all()
    card = json.loads((store / "models" / "dag-v1" / "model_card.json").read_text())
    assert set(card["models"]) == {"educational_value", "domain"}
    assert card["models"]["educational_value"]["heldout_size"] == int((ratings["split"] == "heldout").sum())
    assert json.loads((store / "models" / "_latest.json").read_text())["version"] == "dag-v1"
