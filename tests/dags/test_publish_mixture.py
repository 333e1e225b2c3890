"""publish_mixture runs for real under Airflow (dag.test(), SQLite metadata DB) and publishes to SeaweedFS."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fixtures_s3 import S3Server
from mixture_helper import build_mixture

from tasks.publish import list_versions, open_mixture

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_publish_mixture_dag_publishes_to_s3(
    airflow_db: str, s3_server: S3Server, s3_prefix: str, shared_data: Path, tmp_path: Path
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    sys.path.insert(0, str(REPO / "dags"))
    import publish_mixture

    dag = publish_mixture.publish_mixture_dag
    dry = dag.test(
        run_conf={"mixture": "web-en", "store": built.store.root, "target": s3_prefix, "dry_run": True}
    )
    assert dry.state == "success"
    assert list_versions(f"{s3_prefix}/web-en") == []  # a dry run writes nothing
    states = {ti.task_id: ti.state for ti in dry.get_task_instances()}
    assert states["publish"] == "success" and states["announce"] == "skipped"

    # every key given: dag.test() on the same DAG object carries the previous run's conf over as defaults.
    # The mixture names no sweep, so nothing validates it: v1 is written, latest is not, the task fails.
    gated = dag.test(
        run_conf={
            "mixture": "web-en",
            "store": built.store.root,
            "target": s3_prefix,
            "dry_run": False,
            "force_latest": False,
        }
    )
    assert gated.state == "failed"
    assert {ti.task_id: ti.state for ti in gated.get_task_instances()}["publish"] == "failed"
    assert [v.number for v in list_versions(f"{s3_prefix}/web-en")] == [1]
    with pytest.raises(FileNotFoundError):
        open_mixture(f"{s3_prefix}/web-en")  # no latest yet
    assert open_mixture(f"{s3_prefix}/web-en", "v1").manifest.validation["verdict"] == "failed"

    run = dag.test(
        run_conf={
            "mixture": "web-en",
            "store": built.store.root,
            "target": s3_prefix,
            "dry_run": False,
            "force_latest": True,
        }
    )
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"publish": "success", "check_published": "success", "announce": "success"}
    mix = open_mixture(f"{s3_prefix}/web-en")
    assert mix.version == 1 and mix.verify().ok
    assert mix.manifest.totals.documents == built.documents
    assert mix.report_html() is not None


def test_publish_mixture_needs_a_mixture_name(airflow_db: str, tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "dags"))
    import publish_mixture

    run = publish_mixture.publish_mixture_dag.test(
        run_conf={"mixture": "", "store": str(tmp_path), "target": str(tmp_path), "dry_run": False}
    )
    assert run.state == "failed"
