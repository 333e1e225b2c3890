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


def _asset_names(condition: object) -> set[str]:
    """The Asset names in a schedule's condition (an Asset, or any/all of them, nested)."""
    if condition is None:
        return set()
    if hasattr(condition, "objects"):
        return {name for obj in condition.objects for name in _asset_names(obj)}
    return {str(condition.name)}  # type: ignore[attr-defined]


def asset_graph(dags: dict[str, object]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(assets each DAG is scheduled on, assets each DAG's tasks produce)."""
    consumes = {d: _asset_names(getattr(dag.timetable, "asset_condition", None)) for d, dag in dags.items()}  # type: ignore[attr-defined]
    produces = {
        d: {o.name for t in dag.tasks for o in (t.outlets or []) if hasattr(o, "name")}  # type: ignore[attr-defined]
        for d, dag in dags.items()
    }
    return consumes, produces


def asset_graph_problems(consumes: dict[str, set[str]], produces: dict[str, set[str]]) -> list[str]:
    """Self-triggering DAGs, Assets consumed but never produced, and cycles between DAGs."""
    problems = [
        f"{d} consumes {sorted(consumes[d] & produces[d])}, which it produces"
        for d in consumes
        if consumes[d] & produces[d]
    ]
    producers = {a for made in produces.values() for a in made}
    problems += [
        f"{d} is scheduled on {a}, which no DAG produces"
        for d in consumes
        for a in sorted(consumes[d] - producers)
    ]
    edges = {d: {c for c in consumes if produces[d] & consumes[c]} for d in produces}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                problems.append("cycle: " + " -> ".join([*path, node, nxt]))
            elif nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    return problems


def test_asset_graph_is_clean(dagbag) -> None:  # type: ignore[no-untyped-def]
    consumes, produces = asset_graph(dagbag.dags)
    assert asset_graph_problems(consumes, produces) == []
    # the chain the docs draw (dags/quarry_common/assets.py)
    assert consumes["score_corpus"] == {"quarry_documents"}
    assert consumes["nightly_mixture"] == {"quarry_scores", "quarry_sweep"}
    assert produces["crawl_ingest"] == {"quarry_documents"}
    assert produces["nightly_mixture"] == {"quarry_published_mixture"}


def test_asset_graph_check_catches_self_triggering_orphans_and_cycles() -> None:
    """The check itself must be able to fail: the wiring found in the field, and a two-DAG cycle."""
    # nightly_mixture's score task used to emit quarry_scores, which it consumes; publish_mixture waited on
    # quarry_mixture, which nothing produced
    consumes = {"nightly": {"quarry_scores"}, "publish": {"quarry_mixture"}, "score": set()}
    produces = {"nightly": {"quarry_scores"}, "publish": set(), "score": {"quarry_scores"}}
    problems = asset_graph_problems(consumes, produces)
    assert any("nightly consumes ['quarry_scores']" in p for p in problems)
    assert any("publish is scheduled on quarry_mixture" in p for p in problems)
    assert any(
        p.startswith("cycle:")
        for p in asset_graph_problems({"a": {"x"}, "b": {"y"}}, {"a": {"y"}, "b": {"x"}})
    )
