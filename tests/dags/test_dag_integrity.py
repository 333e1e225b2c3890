"""Every DAG file imports cleanly, quickly and without side effects, and follows the house rules."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
DAG_FILES = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag(airflow_db: str):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import BundleDagBag as DagBag

    return DagBag(dag_folder=str(DAGS), bundle_path=DAGS, bundle_name="dags-folder")


def test_every_dag_file_imports_without_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) >= len(DAG_FILES)


def test_expected_dags_exist(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert "crawl_ingest" in dagbag.dags
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "quarry" in dag.tags, dag_id
        assert dag.doc_md, f"{dag_id} has no doc_md"
        for t in dag.tasks:
            assert (t.retries or 0) >= 1 or t.task_id.startswith(("validate", "check")), (
                f"{dag_id}.{t.task_id} has no retries"
            )


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_has_no_heavy_imports_at_module_level(path: Path) -> None:
    """Business logic is imported inside tasks: a DAG file parses in the scheduler without numpy, torch, ..."""
    tree = ast.parse(path.read_text())
    heavy = ("tasks", "numpy", "pandas", "torch", "pyarrow", "dask", "distributed", "fasttext", "lightgbm")
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] not in heavy, f"{path.name} imports {name} at module level"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_import_has_no_side_effects(path: Path, tmp_path: Path) -> None:
    """Importing a DAG file in a fresh interpreter writes nothing, starts nothing and is fast."""
    code = (
        "import sys, time, threading; sys.path.insert(0, sys.argv[1]); t = time.time(); "
        "import importlib; importlib.import_module(sys.argv[2]); "
        "print(round(time.time() - t, 3), threading.active_count())"
    )
    env = {
        **os.environ,
        "QUARRY_STORE": str(tmp_path / "store"),
        "QUARRY_CRAWL_ROOT": str(tmp_path / "crawl"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code, str(DAGS), path.stem],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seconds, threads = out.stdout.split()[-2:]
    assert list(tmp_path.iterdir()) == [], "importing a DAG file must not write files"
    assert float(seconds) < 15
    assert int(threads) <= 2
