"""A real Dask cluster over tcp: one ``dask scheduler`` and two single-threaded ``dask worker`` processes,
started the way a user starts them (no nanny, so SIGKILL of a worker really loses it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DaskCluster:
    address: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def kill_worker(self, index: int = 0) -> int:
        proc = self.workers[index]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return proc.pid


def _wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.fixture
def dask_tcp_cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "QUARRY_PROGRESS": "0"}
    env.pop("QUARRY_DASK_SCHEDULER", None)
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        cwd=REPO,
        env=env,
        stdout=(logs / "scheduler.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    procs.append(scheduler)
    cluster = DaskCluster(address)
    try:
        for i in range(2):
            worker = subprocess.Popen(
                [
                    DASK,
                    "worker",
                    address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    "--memory-limit",
                    "0",
                    "--name",
                    f"w{i}",
                ],
                cwd=REPO,
                env=env,
                stdout=(logs / f"worker{i}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            procs.append(worker)
            cluster.workers.append(worker)
        deadline = time.time() + 60
        while True:
            try:
                _wait_for_workers(address, 2, timeout=30)
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        yield cluster
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
