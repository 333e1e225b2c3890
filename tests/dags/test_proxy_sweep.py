"""proxy_sweep runs for real under Airflow (dag.test(), SQLite metadata DB): mapped training tasks in the
``gpu`` pool, fit, validation, and the ``quarry_sweep`` Asset event."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "tasks" / "mix"))
from quarry_scored_corpus import build_scored_corpus  # noqa: E402

pytestmark = pytest.mark.integration


def _gpu_pool(slots: int = 2) -> None:
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(
        name="gpu", slots=slots, description="GPU workers for proxy training", include_deferred=False
    )


def test_proxy_sweep_dag_trains_fits_validates_and_emits_the_asset(
    airflow_db: str, shared_data: Path, tmp_path: Path
) -> None:
    budget = {"Religion": 40_000, "Literature": 40_000, "Miscellaneous": 30_000, "Technology": 20_000}
    info = build_scored_corpus(tmp_path / "store", shared_data, budget=budget, n_shards=2)
    _gpu_pool()
    sys.path.insert(0, str(REPO / "dags"))
    import proxy_sweep

    dag = proxy_sweep.proxy_sweep_dag
    assert next(t for t in dag.tasks if t.task_id == "train").pool == "gpu"
    wiki = shared_data / "eval" / "wikitext-2" / "wiki.test.txt"
    conf = {
        "store": info.root,
        "sweep_id": "dag-sweep",
        "mode": "regmix",
        "n_proxies": 12,
        "group_size": 6,
        "token_budget": 8192,
        "targets": [f"wikitext2=text:{wiki}"],
        "target_max_bytes": 6000,
        "search_size": 1000,
        "top_k": 10,
        "model": "tiny",
        "heldout_documents": 16,
        "validation_seeds": 1,
        "train_overrides": {"batch_size": 8, "eval_tokens": 2048, "lr": 0.003, "threads": 1},
        "regression_overrides": {"min_runs": 5},
        # the data-quality-illusion experiment after validation (tasks/illusion), tiny
        "illusion_seeds": 3,
        "illusion_keep": [1.0, 0.25],
        "illusion_token_budget": 4096,
    }
    run = dag.test(run_conf=conf)
    assert run.state == "success"
    states: dict[str, list[str]] = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, []).append(ti.state)
    assert states["train"] == ["success", "success"]  # two mapped groups of six proxies
    assert {k: v for k, v in states.items() if k != "train"} == {
        "plan": ["success"],
        "fit": ["success"],
        "validate": ["success"],
        "publish": ["success"],
    }
    root = Path(info.root, "sweeps", "dag-sweep")
    fit = json.loads((root / "fit.json").read_text())
    assert fit["status_counts"] == {"completed": 12}
    assert (root / "fit.svg").exists() and (root / "chosen.json").exists()
    report = json.loads((root / "report.json").read_text())
    assert {"chosen", "uniform", "topk"} <= set(report["mixtures"])
    illusion = json.loads((root / "illusion.json").read_text())
    assert [a["x"] for a in illusion["curves"]["web"]] == [1.0, 0.25] and illusion["conclusion"]
    assert json.loads(Path(info.root, "sweeps", "latest.json").read_text())["sweep_id"] == "dag-sweep"

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "quarry_sweep")
        ).all()
        assert events and events[-1].extra["sweep_id"] == "dag-sweep"
        assert events[-1].extra["spearman_heldout"] == fit["spearman_heldout"]


def test_proxy_sweep_dag_fails_clearly_on_bad_params(airflow_db: str, tmp_path: Path) -> None:
    _gpu_pool()
    sys.path.insert(0, str(REPO / "dags"))
    import proxy_sweep

    run = proxy_sweep.proxy_sweep_dag.test(
        run_conf={"store": str(tmp_path), "sweep_id": "bad", "targets": ["no-equals-sign"], "mode": "quadmix"}
    )
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["plan"] == "failed"
