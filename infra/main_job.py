"""The main job on embedded defaults (`make demo`): start the local services it needs, run the
``nightly_mixture`` DAG in-process with Airflow's ``dag.test()`` (SQLite metadata DB under .quarry/airflow), a
local store (./quarry-data) and a Dask LocalCluster, then say what was published and whether it is trusted.

    .venv/bin/python infra/main_job.py [--store DIR] [--shared-data DIR] [--port 8000] [--mixture nightly]
                                          [--bakeoff uniform,topk,chosen,dsir,qurating,dclm,rebalance]

Services: the vLLM-on-CPU rater server is started here (unless $QUARRY_RATER_URL names one) on --port, or on a
free port when that one is taken, and stopped at the end — also on failure, Ctrl-C or SIGTERM. The release is
published into the local store, so no S3 server is needed (tests cover S3 with a real SeaweedFS).
Exit codes: 0 the run finished and published (whatever the release gate's verdict, which is printed); 1 the
pipeline failed; 2 a service could not be started; 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def _airflow_env(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(home))
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
    os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO / "plugins"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home}/airflow.db")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RaterServer:
    """The local vLLM rater, started by infra/vllm/serve.sh in its own process group."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.pid: int | None = None

    def start(self) -> str:
        if not _port_free(self.port):
            taken, self.port = self.port, _free_port()
            print(f"port {taken} is taken by another program; starting the rater server on {self.port}")
        print(
            f"starting the rater server (vLLM on CPU, SmolLM2-135M) on 127.0.0.1:{self.port} ...", flush=True
        )
        out = subprocess.run(
            ["bash", str(REPO / "infra" / "vllm" / "serve.sh"), str(self.port)],
            capture_output=True,
            text=True,
        )
        pidfile = REPO / ".quarry" / "run" / f"vllm-{self.port}.pid"
        if pidfile.exists():
            self.pid = int(pidfile.read_text())
        if out.returncode != 0:
            self.stop()
            raise RuntimeError(f"the rater server did not start:\n{out.stderr.strip()[-3000:]}")
        return out.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
            for _ in range(50):
                os.killpg(self.pid, 0)
                time.sleep(0.2)
            os.killpg(self.pid, signal.SIGKILL)
        (REPO / ".quarry" / "run" / f"vllm-{self.port}.pid").unlink(missing_ok=True)
        print(f"stopped the rater server on port {self.port}")
        self.pid = None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _report(store: str, mixture: str, started: float, state: str) -> dict[str, Any]:
    """What a person wants to know after the run: where the release is, and whether it can be trusted."""
    release = Path(store) / "published" / mixture
    manifests = sorted(release.glob("v*/manifest.json"), key=lambda p: int(p.parent.name[1:]))
    summary: dict[str, Any] = {"dag_run": state, "minutes": round((time.time() - started) / 60, 1)}
    if not manifests:
        return summary
    newest = manifests[-1]
    manifest = json.loads(newest.read_text())
    latest_file = release / "latest"
    latest = json.loads(latest_file.read_text()).get("version") if latest_file.exists() else None
    validation = manifest.get("validation") or {}
    summary.update(
        {
            "release": str(newest.parent),
            "manifest": str(newest),
            "report": str(newest.parent / "report.html"),
            "latest": f"v{latest}" if latest else None,
            "documents": manifest.get("totals", {}).get("documents"),
            "tokens": manifest.get("totals", {}).get("tokens"),
        }
    )
    print()
    print(f"release      {newest.parent}   (latest -> {summary['latest'] or 'unset'})")
    print(f"report       {newest.parent / 'report.html'}")
    if validation:
        print(
            f"sweep        held-out Spearman {_fmt(validation.get('spearman'))} "
            f"(gate needs >= {_fmt(validation.get('threshold'))})"
        )
        for arm, stats in (validation.get("arms") or {}).items():
            low, high = stats.get("interval95") or [None, None]
            print(
                f"  {arm:<8} target loss {_fmt(stats.get('mean'))} over {stats.get('seeds')} fresh seeds "
                f"(95% interval {_fmt(low)} .. {_fmt(high)})"
            )
        print(f"verdict      {str(validation.get('verdict')).upper()}: {validation.get('reason')}")
        summary["verdict"] = validation.get("verdict")
    bakeoff = Path(store) / "sweeps" / str(validation.get("sweep_id")) / "bakeoff.json"
    if bakeoff.exists():
        result = json.loads(bakeoff.read_text())
        print(f"bake-off     {result.get('summary')}")
        print(f"             table: {bakeoff.with_suffix('.md')}")
        summary["bakeoff"] = result.get("summary")
    return summary


def _failed_tasks(run: Any) -> set[str]:
    try:
        return {ti.task_id for ti in run.get_task_instances() if ti.state in ("failed", "upstream_failed")}
    except Exception:  # the run's task instances could not be read: claim nothing
        return {"?"}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", default=os.environ.get("QUARRY_STORE", str(REPO / "quarry-data")))
    parser.add_argument("--shared-data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("QUARRY_VLLM_PORT", "8000")))
    parser.add_argument("--mixture", default="nightly")
    parser.add_argument(
        "--bakeoff",
        default="uniform,topk,chosen,dsir,qurating,dclm,rebalance",
        help="selection methods compared side by side on the sweep (tasks.bakeoff); empty: none",
    )
    args = parser.parse_args()

    shared = Path(args.shared_data).resolve()
    if not shared.is_dir():
        print(
            f"main job: error: the shared data folder {shared} does not exist (use --shared-data)",
            file=sys.stderr,
        )
        return 2
    _airflow_env(REPO / ".quarry" / "airflow")
    store = str(Path(args.store).resolve())
    os.environ["QUARRY_STORE"] = store
    os.environ.setdefault("QUARRY_PROGRESS", "1")
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.time()
    server = None if os.environ.get("QUARRY_RATER_URL") else RaterServer(args.port)
    try:
        try:
            url = server.start() if server else os.environ["QUARRY_RATER_URL"]
        except RuntimeError as exc:
            print(f"main job: error: {exc}", file=sys.stderr)
            return 2
        print(f"rater server: {url}", flush=True)
        from airflow.models.pool import Pool
        from airflow.utils.db import initdb  # type: ignore[attr-defined]

        initdb()
        slots = int(os.environ.get("QUARRY_GPU_POOL_SLOTS", "1"))
        Pool.create_or_update_pool(
            name="gpu", slots=slots, description="proxy training", include_deferred=False
        )
        sys.path.insert(0, str(REPO / "dags"))
        import nightly_mixture

        print(
            "running the nightly_mixture DAG (ingest, rate, distil, score, cluster, sweep, mix, publish) ..."
        )
        run = nightly_mixture.nightly_mixture_dag.test(
            run_conf={
                "store": store,
                "shared_data": str(shared),
                "rater_url": url,
                "mixture": args.mixture,
                "bakeoff_methods": list(args.bakeoff.split(",")) if args.bakeoff else [],
            }
        )
    except KeyboardInterrupt:
        print("\ninterrupted: stopping what the main job started", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            server.stop()
    summary = _report(store, args.mixture, started, str(run.state))
    print(json.dumps(summary, indent=2))
    if run.state == "success":
        return 0
    if summary.get("verdict") == "failed" and _failed_tasks(run) == {"publish"}:
        # the run published a numbered version and the gate kept `latest` where it was: an honest outcome
        print("the release gate rejected this mixture: it is published for inspection, latest did not move")
        return 0
    print(f"nightly_mixture finished in state {run.state}; see the task logs above", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
