"""The bakeoff DAG runs for real under Airflow (dag.test(), SQLite metadata DB) on a planned tiny sweep: the sweep
resolved, every arm's selection, the proxies in the ``gpu`` pool, ``bakeoff.json`` beside the sweep."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "tasks" / "mix"))
from quarry_scored_corpus import build_scored_corpus  # noqa: E402

pytestmark = pytest.mark.integration


def test_bakeoff_dag_runs_the_arms_and_writes_the_result(
    airflow_db: str, shared_data: Path, tmp_path: Path
) -> None:
    from airflow.models.pool import Pool

    from tasks.runner import ClusterConfig
    from tasks.sweep import ProxyModelConfig, SweepConfig, TrainConfig, plan_sweep
    from tasks.sweep.targets import default_targets

    budget = {"Religion": 30_000, "Literature": 30_000, "Miscellaneous": 30_000}
    info = build_scored_corpus(tmp_path / "store", shared_data, budget=budget, n_shards=1)
    targets = tuple(
        dataclasses.replace(t, max_bytes=4000) for t in default_targets(str(shared_data / "eval"))
    )
    plan_sweep(
        SweepConfig(
            store=info.root,
            sweep_id="dag-bakeoff",
            targets=targets,
            mode="regmix",
            n_proxies=4,
            token_budget=2048,
            search_size=100,
            top_k=4,
            model=ProxyModelConfig.preset("tiny"),
            train=TrainConfig(lr=3e-3, batch_size=8, eval_tokens=1024, threads=1),
            heldout_documents=20,
            cluster=ClusterConfig(n_workers=0),
        )
    )
    Pool.create_or_update_pool(name="gpu", slots=1, description="GPU workers", include_deferred=False)
    sys.path.insert(0, str(REPO / "dags"))
    import bakeoff

    dag = bakeoff.bakeoff_dag
    assert next(t for t in dag.tasks if t.task_id == "run").pool == "gpu"
    conf = {
        "store": info.root,
        "sweep_id": "dag-bakeoff",
        "methods": ["uniform", "topk", "chosen"],
        "seeds": 3,
        "budget_fraction": 0.4,
        "token_budget": 2048,
        "eval_dir": str(shared_data / "eval"),
        "device": "cpu",
    }
    run = dag.test(run_conf=conf)
    assert run.state == "success"
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {
        "resolve": "success",
        "run": "success",
    }
    report = json.loads(Path(info.root, "sweeps", "dag-bakeoff", "bakeoff.json").read_text())
    arms = {a["method"]: a for a in report["arms"]}
    assert arms["uniform"]["status"] == arms["topk"]["status"] == "ok"
    assert arms["chosen"]["status"] == "unavailable"  # planned, not fitted: no chosen parameters
    assert report["settings"]["budget_fraction"] == 0.4 and len(report["seeds"]) == 3
    assert abs(arms["topk"]["selection"]["budget_ratio"] - 1) < 0.05
