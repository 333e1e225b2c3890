"""Real Airflow, run the way users run it: api-server + scheduler (LocalExecutor) + dag-processor on a fresh
AIRFLOW_HOME with SQLite, set up by ``infra/airflow_setup.sh`` (the README's command), driven through the REST
API. Used by the DAG tests that must pass under Airflow's own scheduler, not only under ``dag.test()``."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TERMINAL = {"success", "failed"}
# structured-log keys that only locate a record; the rest (event, reason, error, ...) is its text
_LOG_META = {
    "event",
    "level",
    "timestamp",
    "logger",
    "filename",
    "lineno",
    "ti_id",
    "try_number",
    "map_index",
    "task_id",
    "run_id",
    "dag_id",
    "sources",
}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AirflowServices:
    """The three long-running Airflow components as child processes, with their logs under ``home``."""

    def __init__(self, home: Path, extra_env: Mapping[str, str]) -> None:
        self.home = home
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.extra_env = dict(extra_env)
        self._secrets = (secrets.token_hex(16), secrets.token_hex(32))

    @property
    def env(self) -> dict[str, str]:
        """The components' environment: this process's (S3 credentials of a running fixture included), with
        Airflow's settings replaced, plus ``extra_env``."""
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__SECRET_KEY": self._secrets[0],
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secrets[1],
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            **self.extra_env,
        }

    # ---- lifecycle -------------------------------------------------------------------------------------
    def setup(self) -> str:
        """The README's Airflow set-up command: metadata DB and the pools the DAGs use."""
        out = subprocess.run(
            ["bash", str(REPO / "infra" / "airflow_setup.sh")],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def start(self) -> None:
        for name, args in (
            ("api-server", ["api-server", "--port", str(self.port), "--host", "127.0.0.1"]),
            ("scheduler", ["scheduler"]),
            ("dag-processor", ["dag-processor"]),
        ):
            log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            self.procs[name] = subprocess.Popen(
                [str(BIN / "airflow"), *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.time() + 240
        while time.time() < deadline:
            self.check_alive()
            try:
                if httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(2)
        raise TimeoutError(
            f"the Airflow api-server did not answer on {self.url}: {self.log_tail('api-server')}"
        )

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}: {self.log_tail(name)}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    # ---- REST API -----------------------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call; reads are retried on time-outs (a loaded 2-core machine can stall the server)."""
        attempts = 5 if method == "GET" else 1
        for attempt in range(attempts):
            try:
                resp = httpx.request(method, f"{self.url}/api/v2{path}", timeout=60, **kwargs)
                break
            except httpx.TimeoutException:
                if attempt == attempts - 1:
                    raise
                time.sleep(5)
        assert resp.status_code < 300, f"{method} {path}: HTTP {resp.status_code} {resp.text[:500]}"
        return resp.json() if resp.content else None

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 240) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.check_alive()
            found = {d["dag_id"] for d in self.api("GET", "/dags", params={"limit": 100})["dags"]}
            errors = self.api("GET", "/importErrors")["import_errors"]
            assert not errors, errors
            if set(dag_ids) <= found:
                return
            time.sleep(3)
        raise TimeoutError(f"DAGs {dag_ids} not parsed in {timeout} s: {self.log_tail('dag-processor')}")

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: Mapping[str, Any]) -> str:
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf)})
        return str(run["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return {
            f"{t['task_id']}[{t['map_index']}]" if t["map_index"] >= 0 else t["task_id"]: t["state"]
            for t in tis["task_instances"]
        }

    def task_log_records(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1
    ) -> list[tuple[str, str]]:
        """The task's log as (level, text) pairs, level lower-case ('info', 'warning', 'error', ...)."""
        data = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true"},
            headers={"Accept": "application/json"},
        )
        out = []
        for item in data.get("content", []):
            if isinstance(item, dict):
                extra = " ".join(f"{k}={v}" for k, v in item.items() if k not in _LOG_META)
                text = f"{item.get('event', '')} {extra}".strip()
                out.append((str(item.get("level", "")).lower(), text))
            else:
                out.append(("", str(item)))
        return out

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        return "\n".join(text for _, text in self.task_log_records(dag_id, run_id, task_id, try_number))

    def failure_report(self, dag_id: str, run_id: str) -> str:
        """Task states and, for each failed task, the warning/error lines of its last try."""
        states = self.task_states(dag_id, run_id)
        lines = [f"{dag_id} {run_id}: {states}"]
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        for ti in tis["task_instances"]:
            if ti["state"] != "failed" or ti["map_index"] >= 0:
                continue
            records = self.task_log_records(dag_id, run_id, ti["task_id"], max(1, int(ti["try_number"])))
            bad = [
                f"  {lvl}: {text[:1500]}" for lvl, text in records if lvl in ("warning", "error", "critical")
            ]
            lines += [f"{ti['task_id']} (try {ti['try_number']}):", *bad[-15:]]
        return "\n".join(lines)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float) -> str:
        deadline = time.time() + timeout
        state = None
        while time.time() < deadline:
            self.check_alive()
            state = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in TERMINAL:
                return str(state)
            time.sleep(3)
        raise TimeoutError(
            f"{dag_id} {run_id} still {state} after {timeout} s; tasks: {self.task_states(dag_id, run_id)}\n"
            f"{self.log_tail('scheduler')}"
        )

    def asset_events(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "/assets/events", params={"limit": 100})["asset_events"])


@pytest.fixture
def airflow_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServices]:
    """A fresh Airflow (own home, own SQLite DB) with the repo's DAGs; stopped at the end of the test."""
    home = tmp_path_factory.mktemp("airflow-home")
    services = AirflowServices(home, {})
    yield services
    services.stop()
