"""Publication against a real S3 endpoint (SeaweedFS started by the ``s3_server`` fixture)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fixtures_s3 import S3Server
from mixture_helper import build_mixture

from tasks.cli import main
from tasks.publish import (
    PublishConfig,
    VersionNotFound,
    advance_latest,
    list_versions,
    open_mixture,
    open_store,
    publish_mixture,
    read_latest,
)
from tasks.publish.objectstore import S3ObjectStore
from tasks.publish.publisher import FAILPOINT_ENV, claim_version

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def _config(store: str, target: str, **kw: object) -> PublishConfig:
    return PublishConfig(store=store, name="web-en", target=target, max_rows_per_shard=8, **kw)  # type: ignore[arg-type]


def _bucket_key(s3_prefix: str) -> tuple[str, str]:
    bucket, _, key = s3_prefix[len("s3://") :].partition("/")
    return bucket, key


def test_seaweedfs_honours_if_none_match_and_if_match(s3_server: S3Server, s3_prefix: str) -> None:
    """The primitives the protocol relies on, checked on the wire with boto3."""
    client = s3_server.client()
    bucket, prefix = _bucket_key(s3_prefix)
    key = f"{prefix}/probe"
    first = client.put_object(Bucket=bucket, Key=key, Body=b"1", IfNoneMatch="*")
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.put_object(Bucket=bucket, Key=key, Body=b"2", IfNoneMatch="*")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    with pytest.raises(client.exceptions.ClientError) as stale:
        client.put_object(Bucket=bucket, Key=key, Body=b"3", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert stale.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    client.put_object(Bucket=bucket, Key=key, Body=b"4", IfMatch=first["ETag"])
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"4"
    # and the store's own probe agrees
    store = open_store(s3_prefix)
    assert isinstance(store, S3ObjectStore)
    store.check_conditional_writes("probes")


def test_publish_to_s3_and_read_back(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path, shared_data: Path
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    result = publish_mixture(_config(built.store.root, s3_prefix))
    assert result.url == f"{s3_prefix}/web-en/v1" and result.latest_version == 1

    mix = open_mixture(f"{s3_prefix}/web-en")
    assert mix.version == 1 and mix.manifest.content_digest == result.manifest.content_digest
    assert sum(d["repetitions"] for d in mix.iter_documents()) == built.documents
    assert mix.verify().ok and mix.verify().checked == len(mix.manifest.shards) + 1  # + report.html
    assert "<svg" in (mix.report_html() or "")

    client = s3_server.client()
    bucket, prefix = _bucket_key(s3_prefix)
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/web-en/v1/shards/")["Contents"]
    assert len(listed) == result.manifest.totals.shards
    head = client.head_object(Bucket=bucket, Key=f"{prefix}/web-en/v1/{mix.manifest.shards[0].path}")
    assert head["Metadata"]["sha256"] == mix.manifest.shards[0].sha256

    again = publish_mixture(_config(built.store.root, s3_prefix))
    assert again.already_published and again.version == 1


def test_claim_race_on_s3(s3_server: S3Server, s3_prefix: str) -> None:
    winners: list[int] = []
    barrier = threading.Barrier(6)

    def claim(i: int) -> None:
        store = open_store(s3_prefix)  # its own client, as a separate publisher would have
        barrier.wait()
        winners.append(claim_version(store, "web-en", [], {"id": f"p{i}", "content_digest": str(i)}))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(winners) == [1, 2, 3, 4, 5, 6]


def test_concurrent_publishers_on_s3(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path, shared_data: Path
) -> None:
    stores = [build_mixture(tmp_path / f"s{i}", shared_data, variant=i) for i in range(3)]
    # two publishers of different mixtures and a third pair publishing the same one twice
    runs = [stores[0], stores[1], stores[2], stores[2]]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tasks.cli",
                "--store",
                b.store.root,
                "publish",
                "web-en",
                "--to",
                s3_prefix,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for b in runs
    ]
    outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    complete = [v for v in list_versions(f"{s3_prefix}/web-en") if v.complete]
    published = {open_mixture(f"{s3_prefix}/web-en", v.label).manifest.totals.documents for v in complete}
    assert published == {b.documents for b in stores}
    assert len(complete) == 3  # the same mixture twice is one version (or one shared, resumed claim)
    assert open_mixture(f"{s3_prefix}/web-en").version == max(v.number for v in complete)
    # and no debris: no incomplete version, no empty prefix left by the publisher that lost a race
    assert [v.state for v in list_versions(f"{s3_prefix}/web-en")] == ["complete"] * 3
    assert open_store(s3_prefix).list_children("web-en") == [v.label for v in complete]


def test_killed_publisher_leaves_no_visible_version_and_rerun_completes(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path, shared_data: Path
) -> None:
    first = build_mixture(tmp_path / "a", shared_data, variant=0)
    publish_mixture(_config(first.store.root, s3_prefix))
    second = build_mixture(tmp_path / "b", shared_data, variant=1)

    log = tmp_path / "publisher.log"
    cmd = [sys.executable, "-m", "tasks.cli", "--store", second.store.root, "publish", "web-en"]
    cmd += ["--to", s3_prefix, "--max-rows-per-shard", "4"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, FAILPOINT_ENV: "stall-after-shards:2"},
        )
    try:
        deadline = time.monotonic() + 120
        while "failpoint:" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the publisher never reached the failpoint"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)  # the machine dies mid-upload
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)

    versions = list_versions(f"{s3_prefix}/web-en")
    assert [(v.label, v.complete) for v in versions] == [("v1", True), ("v2", False)]
    client = s3_server.client()
    bucket, prefix = _bucket_key(s3_prefix)
    uploaded = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/web-en/v2/shards/").get("Contents", [])
    assert len(uploaded) == 2  # half a version lies there...
    mix = open_mixture(f"{s3_prefix}/web-en")  # ...but consumers still see v1, whole
    assert mix.version == 1 and mix.verify().ok
    assert sum(d["repetitions"] for d in mix.iter_documents()) == first.documents
    with pytest.raises(VersionNotFound, match="not complete"):
        open_mixture(f"{s3_prefix}/web-en", version="v2")

    rerun = publish_mixture(
        PublishConfig(store=second.store.root, name="web-en", target=s3_prefix, max_rows_per_shard=4)
    )
    assert rerun.resumed and rerun.version == 2 and rerun.latest_version == 2
    mix2 = open_mixture(f"{s3_prefix}/web-en")
    assert mix2.version == 2 and mix2.verify().ok
    assert sum(d["repetitions"] for d in mix2.iter_documents()) == second.documents


def test_stale_latest(s3_server: S3Server, s3_prefix: str, tmp_path: Path, shared_data: Path) -> None:
    stores = [build_mixture(tmp_path / f"s{i}", shared_data, variant=i) for i in range(3)]
    publish_mixture(_config(stores[0].store.root, s3_prefix))
    reader_v1 = open_mixture(f"{s3_prefix}/web-en")
    target = open_store(s3_prefix)
    pointer_v1 = read_latest(target, "web-en")
    assert pointer_v1 is not None and pointer_v1[0]["version"] == 1

    publish_mixture(_config(stores[1].store.root, s3_prefix))
    # a reader that resolved `latest` before v2 keeps reading v1, whole and verified
    assert reader_v1.version == 1 and reader_v1.verify().ok
    assert sum(d["repetitions"] for d in reader_v1.iter_documents()) == stores[0].documents
    assert open_mixture(f"{s3_prefix}/web-en").version == 2
    pointer_v2 = read_latest(target, "web-en")
    assert pointer_v2 is not None

    # a swap from the stale tag fails; `latest` never moves back
    assert not target.compare_and_swap("web-en/latest", b'{"version": 1}', pointer_v1[1])
    assert advance_latest(target, "web-en", 1, "0" * 64) == 2

    # a publisher that died after its manifest but before moving `latest`: the rerun repairs the pointer
    r3 = publish_mixture(_config(stores[2].store.root, s3_prefix))
    current = read_latest(target, "web-en")
    assert current is not None
    assert target.compare_and_swap("web-en/latest", json.dumps(pointer_v2[0]).encode(), current[1])
    assert open_mixture(f"{s3_prefix}/web-en").version == 2
    again = publish_mixture(_config(stores[2].store.root, s3_prefix))
    assert again.already_published and again.version == r3.version == 3 and again.latest_version == 3
    assert open_mixture(f"{s3_prefix}/web-en").version == 3


def test_no_credentials_in_published_objects(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path, shared_data: Path
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    publish_mixture(_config(built.store.root, s3_prefix))
    client = s3_server.client()
    bucket, prefix = _bucket_key(s3_prefix)
    secrets = [os.environ["AWS_SECRET_ACCESS_KEY"].encode(), os.environ["AWS_ACCESS_KEY_ID"].encode()]
    objects = client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")["Contents"]
    assert len(objects) > 3
    for obj in objects:
        body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        assert not any(s in body for s in secrets), obj["Key"]


def test_cli_consume_on_s3(
    s3_server: S3Server, s3_prefix: str, tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    assert main(["--store", built.store.root, "publish", "web-en", "--to", s3_prefix, "--dry-run"]) == 0
    assert list_versions(f"{s3_prefix}/web-en") == []
    assert main(["--store", built.store.root, "publish", "web-en", "--to", s3_prefix]) == 0
    capsys.readouterr()
    assert main(["consume", f"{s3_prefix}/web-en", "--verify"]) == 0
    out = capsys.readouterr().out
    assert "verified" in out and ": ok" in out
    assert main(["consume", f"{s3_prefix}/absent"]) == 2
