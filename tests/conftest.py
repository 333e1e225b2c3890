"""Test-wide set-up. Airflow reads its configuration at import, so its home is fixed here, before any test
module imports it: a throw-away SQLite metadata DB, this repo's dags/ folder, no examples."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("QUARRY_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()

_airflow_home = tempfile.mkdtemp(prefix="quarry-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _airflow_home)
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_airflow_home}/airflow.db")
os.environ.setdefault("QUARRY_PROGRESS", "0")

import pytest  # noqa: E402

pytest_plugins = ["fixtures_airflow", "fixtures_s3", "fixtures_vllm"]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"../shared/data not found at {SHARED_DATA} (set QUARRY_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated Airflow metadata DB for ``dag.test()`` (real Airflow, SQLite)."""
    from airflow.utils.db import initdb  # type: ignore[attr-defined]

    initdb()
    return os.environ["AIRFLOW_HOME"]
