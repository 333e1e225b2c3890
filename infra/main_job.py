"""The main job on embedded defaults: the ``nightly_mixture`` DAG run in-process with Airflow's ``dag.test()``
(SQLite metadata DB under .quarry/airflow), a local store (./quarry-data), a Dask LocalCluster and a local
vLLM-on-CPU rater server (started here, stopped at the end).

    .venv/bin/python infra/main_job.py [--store DIR] [--shared-data DIR] [--port 8000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _airflow_env(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO / "plugins"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home}/airflow.db")


def _start_vllm(port: int) -> tuple[str, int | None]:
    """Start the local rater server unless $QUARRY_RATER_URL points at one; returns (url, pid to stop)."""
    if os.environ.get("QUARRY_RATER_URL"):
        return os.environ["QUARRY_RATER_URL"], None
    out = subprocess.run(
        ["bash", str(REPO / "infra" / "vllm" / "serve.sh"), str(port)],
        check=True,
        capture_output=True,
        text=True,
    )
    url = out.stdout.strip().splitlines()[-1]
    pidfile = REPO / ".quarry" / "run" / f"vllm-{port}.pid"
    return url, int(pidfile.read_text()) if pidfile.exists() else None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", default=os.environ.get("QUARRY_STORE", str(REPO / "quarry-data")))
    parser.add_argument("--shared-data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("QUARRY_VLLM_PORT", "8000")))
    parser.add_argument("--mixture", default="nightly")
    args = parser.parse_args()

    _airflow_env(REPO / ".quarry" / "airflow")
    store = str(Path(args.store).resolve())
    os.environ["QUARRY_STORE"] = store
    started = time.time()
    url, pid = _start_vllm(args.port)
    print(f"rater server: {url}", flush=True)
    try:
        from airflow.models.pool import Pool
        from airflow.utils.db import initdb

        initdb()
        Pool.create_or_update_pool(name="gpu", slots=1, description="proxy training", include_deferred=False)
        sys.path.insert(0, str(REPO / "dags"))
        import nightly_mixture

        run = nightly_mixture.nightly_mixture_dag.test(
            run_conf={
                "store": store,
                "shared_data": str(Path(args.shared_data).resolve()),
                "rater_url": url,
                "mixture": args.mixture,
            }
        )
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
    if run.state != "success":
        print(f"nightly_mixture finished in state {run.state}", file=sys.stderr)
        return 1
    latest = Path(store) / "published" / args.mixture / "latest"
    summary = {"state": run.state, "minutes": round((time.time() - started) / 60, 1), "store": store}
    if latest.exists():
        summary["latest"] = latest.read_text().strip()[:200]
    published = sorted((Path(store) / "published" / args.mixture).glob("v*/manifest.json"))
    if published:
        summary["manifest"] = str(published[-1])
        summary["report"] = str(published[-1].parent / "report.html")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
