"""Publication leaves no debris (issue 9, item 6): a losing publisher withdraws what it wrote, empty prefixes
are not versions, abandoned incomplete versions are listed as such and collected (never a complete one),
killed publishers' staging folders are reclaimed. Run against a local directory and the real SeaweedFS."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mixture_helper import build_mixture

from tasks.cli import main
from tasks.publish import PublishConfig, collect_garbage, list_versions, open_mixture, publish_mixture
from tasks.publish import publisher as publisher_module
from tasks.publish.objectstore import ObjectStore, ObjectStoreError, open_store
from tasks.publish.publisher import FAILPOINT_ENV
from tasks.publish.staging import STAGING_ENV, host_tag, process_start
from tasks.publish.versions import HEARTBEAT, claim_version, scan_versions

REPO = Path(__file__).resolve().parents[3]
HOUR = 3600.0


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.integration)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "published")
    return str(request.getfixturevalue("s3_prefix"))


def _config(store: str, target: str, **kw: object) -> PublishConfig:
    return PublishConfig(store=store, name="web-en", target=target, max_rows_per_shard=8, **kw)  # type: ignore[arg-type]


def _keys(store: ObjectStore, label: str) -> list[str]:
    return store.list_keys(f"web-en/{label}")


def test_losing_publisher_withdraws_its_claim_and_leaves_no_empty_version(
    target: str, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    digest = publish_mixture(_config(built.store.root, target, dry_run=True)).manifest.content_digest
    store = open_store(target)
    real_scan = publisher_module.scan_versions
    scans = 0

    def scan_then_competitor_claims(*args: object, **kw: object) -> list[object]:
        nonlocal scans
        scans += 1
        seen = real_scan(*args, **kw)  # type: ignore[arg-type]
        if scans == 1:  # between our scan and our claim, a concurrent publisher of the same mixture claims v1
            claim_version(store, "web-en", [], {"id": "competitor", "content_digest": digest})
        return seen  # type: ignore[return-value]

    monkeypatch.setattr(publisher_module, "scan_versions", scan_then_competitor_claims)
    result = publish_mixture(_config(built.store.root, target))
    monkeypatch.undo()

    # we lost v1, claimed v2, saw the same content under v1, withdrew v2 and finished v1 instead
    assert (result.version, result.resumed, result.latest_version) == (1, True, 1)
    assert store.list_children("web-en") == ["v1"]  # no empty v2/ prefix, not even a folder entry
    assert _keys(store, "v2") == []
    assert HEARTBEAT not in {k.rsplit("/", 1)[-1] for k in _keys(store, "v1")}  # complete: no heartbeat left
    assert [(v.label, v.state) for v in list_versions(f"{target}/web-en")] == [("v1", "complete")]
    assert open_mixture(f"{target}/web-en").verify().ok

    other = build_mixture(tmp_path / "other", shared_data, variant=1)
    assert publish_mixture(_config(other.store.root, target)).version == 2  # not v3


def test_empty_prefix_is_not_a_version_and_its_number_is_reused(
    target: str, tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = build_mixture(tmp_path / "a", shared_data, variant=0)
    publish_mixture(_config(first.store.root, target))
    store = open_store(target)
    # what an earlier publisher's clean-up left: a v2 "directory" with nothing in it
    if target.startswith("s3://"):
        store.put("web-en/v2/claim.json", b"{}")
        store.delete("web-en/v2/claim.json")  # SeaweedFS keeps the emptied folder listed
    else:
        (Path(target) / "web-en" / "v2").mkdir()
    assert store.list_children("web-en") == ["v1", "v2"]  # the debris is really there

    assert [v.label for v in list_versions(f"{target}/web-en")] == ["v1"]
    assert main(["consume", f"{target}/web-en", "--list"]) == 0
    assert capsys.readouterr().out.strip() == "v1\tcomplete"
    second = build_mixture(tmp_path / "b", shared_data, variant=1)
    result = publish_mixture(_config(second.store.root, target))
    assert (result.version, result.latest_version) == (2, 2)
    assert [(v.label, v.complete) for v in list_versions(f"{target}/web-en")] == [("v1", True), ("v2", True)]


def _abandoned_claim(store: ObjectStore, label: str, age_s: float) -> None:
    """A publisher that claimed ``label``, uploaded one shard, and died ``age_s`` seconds ago."""
    claim = {"id": f"dead-{label}", "content_digest": "d" * 64, "claimed_at": time.time() - age_s}
    assert store.put_if_absent(f"web-en/{label}/claim.json", json.dumps(claim).encode())
    store.put(f"web-en/{label}/shards/part-00000.parquet", b"half a version")
    store.put(f"web-en/{label}/{HEARTBEAT}", json.dumps({"at": time.time() - age_s}).encode())


def test_gc_removes_abandoned_versions_and_never_a_complete_one(
    target: str, tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    published = publish_mixture(_config(built.store.root, target))
    store = open_store(target)
    v1_keys = {k: store.get(k) for k in _keys(store, "v1")}
    _abandoned_claim(store, "v2", age_s=7 * HOUR)
    live = claim_version(
        store, "web-en", scan_versions(store, "web-en"), {"id": "live", "content_digest": "e" * 64}
    )
    assert live == 3

    listed = {v.label: v.state for v in list_versions(f"{target}/web-en")}
    assert listed == {"v1": "complete", "v2": "abandoned", "v3": "pending"}
    assert main(["consume", f"{target}/web-en", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "v1\tcomplete"
    assert lines[1].startswith("v2\tabandoned (last heartbeat 7.0 h ago; quarry publish --gc")
    assert lines[2].startswith("v3\tpending (last heartbeat")

    # dry run: says what would go, removes nothing
    assert main(["publish", "web-en", "--to", target, "--gc", "--dry-run"]) == 0
    assert "would remove (abandoned)" in capsys.readouterr().out and _keys(store, "v2")

    assert main(["publish", "web-en", "--to", target, "--gc"]) == 0
    out = capsys.readouterr().out
    assert "removed (abandoned)" in out and "v2" in out
    assert _keys(store, "v2") == [] and "v2" not in store.list_children("web-en")
    assert [v.label for v in list_versions(f"{target}/web-en")] == ["v1", "v3"]

    # even with a zero threshold, where every incomplete version counts as abandoned, the complete v1 stays
    # byte for byte (its files are hours "old" by then as well); the pending v3 goes
    result = collect_garbage(store, "web-en", abandoned_after_s=0.0, now=lambda: time.time() + 48 * HOUR)
    assert (result.removed, result.complete) == (["v3"], ["v1"])
    assert {k: store.get(k) for k in _keys(store, "v1")} == v1_keys
    mix = open_mixture(f"{target}/web-en")
    assert mix.version == 1 and mix.verify().ok
    assert mix.manifest.content_digest == published.manifest.content_digest

    # v2 and v3 are gone without a trace: the next publication takes v2 again
    other = build_mixture(tmp_path / "other", shared_data, variant=1)
    assert publish_mixture(_config(other.store.root, target)).version == 2


def test_an_abandoned_empty_claim_costs_no_number_but_one_with_data_waits_for_gc(
    target: str, tmp_path: Path, shared_data: Path
) -> None:
    first = build_mixture(tmp_path / "a", shared_data, variant=0)
    publish_mixture(_config(first.store.root, target))
    store = open_store(target)
    # a publisher killed right after its claim, 7 hours ago: nothing but the claim
    claim = {"id": "dead", "content_digest": "d" * 64, "claimed_at": time.time() - 7 * HOUR}
    assert store.put_if_absent("web-en/v2/claim.json", json.dumps(claim).encode())
    second = build_mixture(tmp_path / "b", shared_data, variant=1)
    assert publish_mixture(_config(second.store.root, target, dry_run=True)).version == 2
    assert publish_mixture(_config(second.store.root, target)).version == 2  # v2 reused, not skipped

    # one that had uploaded data is left for `--gc` (a rerun of its content could still resume it)
    _abandoned_claim(store, "v3", age_s=7 * HOUR)
    third = build_mixture(tmp_path / "c", shared_data, variant=2)
    assert publish_mixture(_config(third.store.root, target)).version == 4
    assert {v.label: v.state for v in list_versions(f"{target}/web-en")}["v3"] == "abandoned"
    # and a fresh (pending) claim is never touched
    live = claim_version(
        store, "web-en", scan_versions(store, "web-en"), {"id": "live", "content_digest": "e" * 64}
    )
    assert live == 5
    assert publish_mixture(_config(first.store.root, target)).already_published  # v1's content: nothing new
    fourth = build_mixture(tmp_path / "d", shared_data, variant=3)
    assert publish_mixture(_config(fourth.store.root, target)).version == 6


def test_a_publisher_that_lost_its_claim_while_stalled_writes_nothing_there(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    target = str(tmp_path / "published")
    store = open_store(target)
    real_claim = publisher_module.claim_version

    def claim_then_stall(*args: object, **kw: object) -> int:
        number = real_claim(*args, **kw)  # type: ignore[arg-type]
        # ...this process stalls for hours; `--gc` removes the claim, another publisher takes the number
        store.delete(f"web-en/v{number}/claim.json")
        assert store.put_if_absent(
            f"web-en/v{number}/claim.json",
            json.dumps({"id": "newcomer", "content_digest": "f" * 64}).encode(),
        )
        return number

    monkeypatch.setattr(publisher_module, "claim_version", claim_then_stall)
    with pytest.raises(ObjectStoreError, match="no longer claimed for this content"):
        publish_mixture(_config(built.store.root, target))
    assert _keys(store, "v1") == ["web-en/v1/claim.json"]  # not one shard written into the newcomer's v1
    assert json.loads(store.get("web-en/v1/claim.json"))["id"] == "newcomer"


def test_gc_leaves_a_version_that_a_rerun_is_resuming(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "published"))
    _abandoned_claim(store, "v1", age_s=7 * HOUR)
    calls = 0

    def clock() -> float:  # the rerun resumes (fresh heartbeat) after the collector's first look
        nonlocal calls
        calls += 1
        if calls == 3:
            store.put(f"web-en/v1/{HEARTBEAT}", json.dumps({"at": time.time()}).encode())
        return time.time()

    result = collect_garbage(store, "web-en", now=clock)
    assert result.removed == [] and result.kept_pending == ["v1"]
    assert "web-en/v1/claim.json" in _keys(store, "v1")


def test_sigkilled_publishers_staging_is_reclaimed_by_the_next_run(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    target = str(tmp_path / "published")
    staging = tmp_path / "staging"
    staging.mkdir()
    # folders that must survive: a live publisher's (this process) and another host's
    alive = staging / f"quarry-publish-{host_tag()}-{os.getpid()}-{process_start(os.getpid())}-web-en-x1"
    foreign_host = "0" * 8 if host_tag() != "0" * 8 else "1" * 8
    elsewhere = staging / f"quarry-publish-{foreign_host}-1-1-web-en-x2"
    for folder in (alive, elsewhere):
        folder.mkdir()

    log = tmp_path / "publisher.log"
    cmd = [
        sys.executable,
        "-m",
        "tasks.cli",
        "--store",
        built.store.root,
        "publish",
        "web-en",
        "--to",
        target,
    ]
    env = {**os.environ, FAILPOINT_ENV: "stall-after-shards:1", STAGING_ENV: str(staging)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--max-rows-per-shard", "8"], cwd=REPO, stdout=out, stderr=out, env=env
        )
    try:
        deadline = time.monotonic() + 120
        while "failpoint:" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "the publisher never reached the failpoint"
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)

    left = sorted(p for p in staging.iterdir() if p not in (alive, elsewhere))
    assert len(left) == 1 and left[0].name.startswith(f"quarry-publish-{host_tag()}-{proc.pid}-")
    assert list((left[0] / "shards").glob("part-*.parquet"))  # the killed publisher's staged shards

    monkeypatch.setenv(STAGING_ENV, str(staging))
    rerun = publish_mixture(_config(built.store.root, target))
    assert rerun.resumed and rerun.version == 1
    assert sorted(staging.iterdir()) == sorted([alive, elsewhere])  # the dead one's folder is gone, and ours


def test_promote_false_writes_the_version_but_keeps_latest(tmp_path: Path, shared_data: Path) -> None:
    target = str(tmp_path / "published")
    first = build_mixture(tmp_path / "a", shared_data, variant=0)
    second = build_mixture(tmp_path / "b", shared_data, variant=1)
    publish_mixture(_config(first.store.root, target))

    held = publish_mixture(
        _config(second.store.root, target, promote=False, validation={"passed": False, "reason": "spearman"})
    )
    assert (held.version, held.latest_version, held.already_published) == (2, 1, False)
    assert open_mixture(f"{target}/web-en").version == 1  # consumers of latest still get v1
    stored = open_mixture(f"{target}/web-en", "v2")
    assert stored.verify().ok and stored.manifest.validation == {"passed": False, "reason": "spearman"}
    raw = json.loads((Path(target) / "web-en" / "v2" / "manifest.json").read_bytes())
    assert raw["validation"] == {"passed": False, "reason": "spearman"}
    assert "validation" not in json.loads((Path(target) / "web-en" / "v1" / "manifest.json").read_bytes())

    # the same data with another verdict is the same version: nothing new is written, latest moves to it,
    # and the manifest keeps the verdict it was written with (manifests are immutable)
    promoted = publish_mixture(_config(second.store.root, target, validation={"passed": True}))
    assert (promoted.version, promoted.already_published, promoted.latest_version) == (2, True, 2)
    assert promoted.manifest.content_digest == held.manifest.content_digest
    assert promoted.manifest.validation == {"passed": False, "reason": "spearman"}
    assert open_mixture(f"{target}/web-en").version == 2
    assert [v.label for v in list_versions(f"{target}/web-en")] == ["v1", "v2"]


def test_a_dead_cluster_publishers_parts_in_the_store_are_reclaimed(tmp_path: Path) -> None:
    """A cluster publish writes its parts under ``<store>/_publish/``, named after its staging folder; a run
    killed before its merge leaves them there. The next cluster publish on this host removes a dead publisher's
    parts, and never a live one's or another host's."""
    from tasks.publish.staging import reclaim_dead_parts

    parts = tmp_path / "store" / "_publish"
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead_pid = proc.pid  # a process that ran and is gone
    me = os.getpid()
    dead = parts / f"quarry-publish-{host_tag()}-{dead_pid}-{process_start(me) or 1}-rel-abc-part"
    alive = parts / f"quarry-publish-{host_tag()}-{me}-{process_start(me) or 0}-rel-def-part"
    elsewhere = parts / f"quarry-publish-00000000-{dead_pid}-1-rel-ghi-part"
    for folder in (dead, alive, elsewhere):
        folder.mkdir(parents=True)
        (folder / "000000.parquet").write_bytes(b"part")
    assert reclaim_dead_parts(str(parts)) == [dead.name]
    assert sorted(p.name for p in parts.iterdir()) == sorted([alive.name, elsewhere.name])
