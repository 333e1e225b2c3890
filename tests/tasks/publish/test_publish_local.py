"""Publication to a local directory (the embedded default store): same protocol as S3."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from mixture_helper import build_mixture

from tasks.cli import main
from tasks.publish import (
    ChecksumMismatch,
    PublishConfig,
    VersionNotFound,
    advance_latest,
    list_versions,
    open_mixture,
    publish_mixture,
    read_latest,
)
from tasks.publish.objectstore import LocalObjectStore, check_key, open_store
from tasks.publish.publisher import claim_version
from tasks.storage import list_files, read_parquet, write_parquet_atomic

REPO = Path(__file__).resolve().parents[3]


def _config(store: str, target: str, **kw: object) -> PublishConfig:
    return PublishConfig(store=store, name="web-en", target=target, max_rows_per_shard=8, **kw)  # type: ignore[arg-type]


def test_publish_then_read_back(tmp_path: Path, shared_data: Path) -> None:
    built = build_mixture(tmp_path / "store", shared_data, sweep_id="sweep-7")
    target = str(tmp_path / "published")
    result = publish_mixture(_config(built.store.root, target))

    assert (result.version, result.latest_version, result.already_published) == (1, 1, False)
    version_dir = tmp_path / "published" / "web-en" / "v1"
    assert (version_dir / "manifest.json").is_file() and (version_dir / "report.html").is_file()
    m = result.manifest
    assert m.totals.unique_documents == built.rows
    assert m.totals.documents == built.documents
    assert m.totals.tokens == built.tokens
    assert m.totals.shards == len(list((version_dir / "shards").glob("*.parquet"))) > 1
    assert all(s.rows <= 8 for s in m.shards)
    assert abs(sum(m.proportions("domain").values()) - 1) < 1e-9
    assert abs(sum(m.proportions("source").values()) - 1) < 1e-9
    assert set(m.sources) == set(built.snapshots)
    assert m.lineage.snapshots == sorted(built.snapshots)
    assert m.lineage.fasttext_model_versions == ["textstats-1"]
    assert m.lineage.rater_versions == {"textstats-1": "text-statistics (no LLM)"}  # from the model card
    assert m.lineage.sweep_id == "sweep-7"
    assert m.lineage.mix_mode == "threshold" and m.lineage.sampling_parameters["threshold"] == 2.0
    assert m.lineage.seed == 1234
    assert m.lineage.stage_versions == {"mix": "format-1", "publish": "quarry-0.1.0"}
    assert all(s.proportion_before is not None for s in m.domains.values())

    mix = open_mixture(f"{target}/web-en")
    assert mix.version == 1 and mix.manifest == m
    docs = list(mix.iter_documents())
    assert len(docs) == built.rows and sum(d["repetitions"] for d in docs) == built.documents
    assert all(d["text"] and d["repetitions"] >= 1 for d in docs)
    assert len(list(mix.iter_documents(columns=("id",), expand=True))) == built.documents
    education = list(mix.iter_documents(domains=["Education"]))
    assert education and all(d["domain"] == "Education" for d in education)
    assert mix.verify().ok
    assert "web-en v1" in (mix.report_html() or "")
    # the shards hold the real text of the store's documents
    texts = {
        t
        for f in list_files(built.store.path("documents"), (".parquet",))
        for t in read_parquet(f)["text"].to_pylist()
    }
    assert all(d["text"] in texts for d in docs)


def test_republish_is_idempotent_and_new_content_gets_next_version(tmp_path: Path, shared_data: Path) -> None:
    target = str(tmp_path / "published")
    first = build_mixture(tmp_path / "a", shared_data, variant=0)
    r1 = publish_mixture(_config(first.store.root, target))
    again = publish_mixture(_config(first.store.root, target))
    assert again.already_published and again.version == 1 and again.latest_version == 1
    assert [v.label for v in list_versions(f"{target}/web-en")] == ["v1"]

    second = build_mixture(tmp_path / "b", shared_data, variant=1)
    r2 = publish_mixture(_config(second.store.root, target))
    assert (r2.version, r2.latest_version) == (2, 2)
    assert r2.manifest.content_digest != r1.manifest.content_digest
    assert r2.manifest.totals.documents == second.documents != first.documents
    assert open_mixture(f"{target}/web-en").version == 2
    assert open_mixture(f"{target}/web-en", version="v1").manifest.totals.documents == first.documents
    assert open_mixture(f"{target}/web-en/v1").version == 1


def test_dry_run_writes_nothing(tmp_path: Path, shared_data: Path) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    result = publish_mixture(_config(built.store.root, str(tmp_path / "published"), dry_run=True))
    assert result.dry_run and result.version == 1 and result.manifest.totals.documents == built.documents
    assert not (tmp_path / "published").exists()


def test_mixture_rows_without_domain_take_it_from_the_scores(tmp_path: Path, shared_data: Path) -> None:
    with_domain = build_mixture(tmp_path / "a", shared_data)
    without = build_mixture(tmp_path / "b", shared_data, with_domain=False)
    r1 = publish_mixture(_config(with_domain.store.root, str(tmp_path / "p1")))
    r2 = publish_mixture(_config(without.store.root, str(tmp_path / "p2")))
    assert "unknown" not in r2.manifest.domains
    assert r1.manifest.domains == r2.manifest.domains
    assert r1.manifest.content_digest == r2.manifest.content_digest  # the same mixture, byte for byte


def test_claim_race_gives_every_publisher_its_own_version(tmp_path: Path) -> None:
    store = LocalObjectStore(str(tmp_path / "published"))
    won: list[int] = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        won.append(claim_version(store, "web-en", [], {"id": f"publisher-{i}", "content_digest": str(i)}))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == list(range(1, 9))
    owners = {
        json.loads((tmp_path / "published" / "web-en" / f"v{n}" / "claim.json").read_text())["id"]
        for n in won
    }
    assert len(owners) == 8


def test_concurrent_publisher_processes(tmp_path: Path, shared_data: Path) -> None:
    target = str(tmp_path / "published")
    stores = [build_mixture(tmp_path / f"s{i}", shared_data, variant=i) for i in range(3)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tasks.cli", "--store", b.store.root, "publish", "web-en", "--to", target],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for b in stores
    ]
    outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    versions = list_versions(f"{target}/web-en")
    assert [(v.label, v.complete) for v in versions] == [("v1", True), ("v2", True), ("v3", True)]
    documents = {open_mixture(f"{target}/web-en", v.label).manifest.totals.documents for v in versions}
    assert documents == {b.documents for b in stores}
    assert open_mixture(f"{target}/web-en").version == 3  # latest is the newest, whoever finished last


def test_tampered_shard_is_detected(tmp_path: Path, shared_data: Path) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    target = str(tmp_path / "published")
    publish_mixture(_config(built.store.root, target))
    mix = open_mixture(f"{target}/web-en")
    shard = mix.manifest.shards[0]
    path = tmp_path / "published" / "web-en" / "v1" / shard.path
    table = read_parquet(str(path))
    write_parquet_atomic(str(path), table.slice(1))  # a valid Parquet file, but not the published one
    with pytest.raises(ChecksumMismatch):
        mix.read_shard(shard)
    report = mix.verify()
    assert not report.ok and len(report.problems) == 1 and shard.path in report.problems[0]
    assert main(["consume", f"{target}/web-en", "--verify"]) == 1


def test_missing_documents_are_counted_and_refused(tmp_path: Path, shared_data: Path) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    extra = pa.table(
        {
            "id": ["0" * 32],
            "snapshot": ["CC-MAIN-2020-16"],
            "shard": ["CC-MAIN-2020-16-00000"],
            "repetitions": [1],
        }
    )
    write_parquet_atomic(f"{built.store.mixtures('web-en')}/documents/CC-MAIN-2020-16/extra.parquet", extra)
    with pytest.raises(ValueError, match="1 of"):
        publish_mixture(_config(built.store.root, str(tmp_path / "published")))
    result = publish_mixture(_config(built.store.root, str(tmp_path / "published"), max_missing_fraction=0.1))
    assert result.manifest.skipped["missing_documents"] == 1
    assert result.manifest.totals.unique_documents == built.rows


def test_latest_never_moves_backwards_and_stale_swap_fails(tmp_path: Path) -> None:
    store = LocalObjectStore(str(tmp_path / "published"))
    assert advance_latest(store, "web-en", 2, "a" * 64) == 2
    assert advance_latest(store, "web-en", 1, "b" * 64) == 2  # an older publisher finishing late
    pointer, etag = read_latest(store, "web-en") or ({}, "")
    assert pointer["version"] == 2
    assert advance_latest(store, "web-en", 3, "c" * 64) == 3
    assert not store.compare_and_swap("web-en/latest", b'{"version": 9}', etag)  # stale tag
    assert (read_latest(store, "web-en") or ({}, ""))[0]["version"] == 3


def test_pinned_incomplete_version_is_not_readable(tmp_path: Path) -> None:
    store = LocalObjectStore(str(tmp_path / "published"))
    claim_version(store, "web-en", [], {"id": "dead-publisher", "content_digest": "x"})
    with pytest.raises(VersionNotFound, match="not complete"):
        open_mixture(f"{tmp_path}/published/web-en", version="v1")
    with pytest.raises(VersionNotFound, match="no published version"):
        open_mixture(f"{tmp_path}/published/web-en")


@pytest.mark.parametrize("name", ["../evil", "a/b", ".hidden", "", "x" * 201, "web en", "..", "v1/../../x"])
def test_unsafe_mixture_names_are_rejected(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        PublishConfig(store=str(tmp_path), name=name, target=str(tmp_path / "out"))
    if name and "/" not in name:  # as the last segment of a reader URL
        with pytest.raises(ValueError):
            open_mixture(f"{tmp_path}/out/{name}")


@pytest.mark.parametrize(
    "target",
    [
        "s3://AKIA:secret@bucket/x",
        "s3://Bad_Bucket/x",
        "s3://bucket/../x",
        "s3://bucket/a/../../b",
        "ftp://h/x",
    ],
)
def test_unsafe_targets_are_rejected(target: str) -> None:
    with pytest.raises(ValueError):
        open_store(target)


def test_keys_cannot_leave_the_prefix(tmp_path: Path) -> None:
    store = LocalObjectStore(str(tmp_path / "root"))
    for key in ["../x", "a/../../x", "/etc/passwd", "a//b", ".tmp/x", "a/"]:
        with pytest.raises(ValueError):
            check_key(key)
        with pytest.raises(ValueError):
            store.put(key, b"no")
    assert not (tmp_path / "x").exists() and not (tmp_path / "root").exists()


def test_mixture_rows_with_unsafe_snapshot_are_rejected(tmp_path: Path, shared_data: Path) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    bad = pa.table({"id": ["0" * 32], "snapshot": ["../../etc"], "shard": ["passwd"], "repetitions": [1]})
    write_parquet_atomic(f"{built.store.mixtures('web-en')}/documents/evil/x.parquet", bad)
    with pytest.raises(ValueError, match="snapshot"):
        publish_mixture(_config(built.store.root, str(tmp_path / "published")))


def test_cli_publish_and_consume(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    target = str(tmp_path / "published")
    assert main(["--store", built.store.root, "publish", "web-en", "--to", target, "--no-report"]) == 0
    assert not (tmp_path / "published" / "web-en" / "v1" / "report.html").exists()
    capsys.readouterr()
    assert main(["consume", f"{target}/web-en", "--verify", "--head", "2"]) == 0
    out = capsys.readouterr().out
    assert "verified" in out and "ok" in out and out.count('"repetitions"') == 2
    assert main(["consume", f"{target}/web-en", "--list"]) == 0
    assert capsys.readouterr().out.strip() == "v1\tcomplete"
    assert main(["consume", f"{target}/web-en", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["documents"] == built.documents
    assert main(["consume", f"{target}/nothing-here"]) == 2  # a clear error, not a traceback
    assert "no published version" in capsys.readouterr().err


def test_an_incomplete_mixture_is_refused(tmp_path: Path, shared_data: Path) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    (Path(built.store.mixtures("web-en")) / "summary.json").unlink()  # the mix stage has not finished
    with pytest.raises(FileNotFoundError, match="no complete mixture"):
        publish_mixture(_config(built.store.root, str(tmp_path / "published")))
    assert not (tmp_path / "published").exists()


def test_publishes_what_the_real_mix_stage_wrote(tmp_path: Path, shared_data: Path) -> None:
    from tasks.mix import MixConfig, run_mix
    from tasks.runner import ClusterConfig

    built = build_mixture(tmp_path / "store", shared_data)  # its documents, scores and dedup attributes
    mixed = run_mix(
        MixConfig(
            store=built.store.root,
            name="topk-half",
            spec={"kind": "topk", "criterion": "educational_value", "keep_fraction": 0.5},
            cluster=ClusterConfig(n_workers=0),
        )
    )
    target = str(tmp_path / "published")
    result = publish_mixture(PublishConfig(store=built.store.root, name="topk-half", target=target))
    m = result.manifest
    assert m.totals.unique_documents == mixed.documents
    assert m.totals.documents == mixed.summary["mixture"]["copies"]
    assert m.totals.tokens == round(mixed.tokens)
    assert m.proportions("domain") == pytest.approx({d: p for d, p in mixed.proportions.items() if p > 0})
    assert m.lineage.mix_mode == "topk" and m.lineage.fasttext_model_versions == ["textstats-1"]
    mix = open_mixture(f"{target}/topk-half")
    assert mix.verify().ok and sum(1 for _ in mix.iter_documents(expand=True)) == m.totals.documents
