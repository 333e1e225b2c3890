"""A release that carries an annealing mixture beside the main one (tasks.methods.anneal): its shards, its
domain proportions in the manifest's ``annealing`` key, checksums, and immutable versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_s3 import S3Server
from mixture_helper import build_mixture

from tasks.cli import main
from tasks.methods.anneal import AnnealSpec, write_annealing_mixture
from tasks.publish import PublishConfig, open_mixture, publish_mixture

SPEC = AnnealSpec(anneal_fraction=0.1, hq_domains=("Education",), upweight=4.0)


def _config(store: str, target: str, **kw: object) -> PublishConfig:
    return PublishConfig(store=store, name="web-en", target=target, max_rows_per_shard=8, report=False, **kw)  # type: ignore[arg-type]


def _check_release(target: str) -> None:
    mix = open_mixture(f"{target}/web-en")
    m = mix.manifest
    assert m.annealing is not None and m.annealing.fraction == 0.1 and m.annealing.mixture == "web-en-anneal"
    assert m.annealing.parameters["upweight"] == 4.0 and m.annealing.parameters["kind"] == "annealing"
    main, anneal = m.proportions("domain"), m.annealing.proportions()
    assert abs(sum(anneal.values()) - 1) < 1e-9
    assert anneal["Education"] > 2 * main["Education"]  # upweighted x4 (repetitions drawn, so not exactly)
    assert all(anneal[d] < main[d] for d in main if d != "Education")
    assert all(s.path.startswith("shards/annealing-") for s in m.annealing.shards)
    assert not any(s.path.startswith("shards/annealing-") for s in m.shards)
    docs = list(mix.iter_documents(annealing=True))
    assert len(docs) == m.annealing.totals.unique_documents
    assert sum(d["repetitions"] for d in docs) == m.annealing.totals.documents
    assert {d["id"] for d in docs} <= {d["id"] for d in mix.iter_documents()}  # the main mixture's documents
    report = mix.verify()
    assert report.ok and report.checked == len(m.shards) + len(m.annealing.shards)


def test_release_with_annealing_mixture_is_published_read_and_verified(
    tmp_path: Path, shared_data: Path
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    summary = write_annealing_mixture(built.store.root, "web-en", "web-en-anneal", SPEC, seed=3)
    assert summary["annealing"]["fraction"] == 0.1
    # idempotent; a different annealing under the same name is refused
    assert write_annealing_mixture(built.store.root, "web-en", "web-en-anneal", SPEC, seed=3) == summary
    with pytest.raises(ValueError, match="not made as this annealing"):
        write_annealing_mixture(built.store.root, "web-en", "web-en-anneal", SPEC, seed=4)

    target = str(tmp_path / "published")
    plain = publish_mixture(_config(built.store.root, target))
    v1_bytes = (tmp_path / "published" / "web-en" / "v1" / "manifest.json").read_bytes()
    assert plain.manifest.annealing is None and "annealing" not in json.loads(
        v1_bytes
    )  # old manifests unchanged

    result = publish_mixture(_config(built.store.root, target, annealing="web-en-anneal"))
    assert result.version == 2 and result.manifest.content_digest != plain.manifest.content_digest
    _check_release(target)
    # republishing is idempotent, and v1 (immutable) is untouched
    again = publish_mixture(_config(built.store.root, target, annealing="web-en-anneal"))
    assert again.already_published and again.version == 2
    assert (tmp_path / "published" / "web-en" / "v1" / "manifest.json").read_bytes() == v1_bytes
    # another fraction is another release
    other = publish_mixture(
        _config(built.store.root, target, annealing="web-en-anneal", annealing_fraction=0.2)
    )
    assert (
        other.version == 3
        and other.manifest.annealing is not None
        and other.manifest.annealing.fraction == 0.2
    )

    # a tampered annealing shard is caught by verify
    shard = open_mixture(f"{target}/web-en", version=2).manifest.annealing.shards[0]  # type: ignore[union-attr]
    path = tmp_path / "published" / "web-en" / "v2" / shard.path
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    assert not open_mixture(f"{target}/web-en", version=2).verify().ok


def test_annealing_needs_a_fraction(tmp_path: Path, shared_data: Path) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    with pytest.raises(ValueError, match="annealing_fraction"):
        PublishConfig(
            store=built.store.root, name="web-en", target=str(tmp_path / "p"), annealing_fraction=0.5
        )
    build_mixture(tmp_path / "store", shared_data, name="plain-copy")  # a mixture with no annealing record
    with pytest.raises(ValueError, match="annealing_fraction"):
        publish_mixture(_config(built.store.root, str(tmp_path / "p"), annealing="plain-copy"))


@pytest.mark.integration
def test_release_with_annealing_mixture_on_s3(
    tmp_path: Path, shared_data: Path, s3_server: S3Server, s3_prefix: str
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    write_annealing_mixture(built.store.root, "web-en", "web-en-anneal", SPEC, seed=3)
    result = publish_mixture(_config(built.store.root, s3_prefix, annealing="web-en-anneal"))
    assert result.version == 1
    _check_release(s3_prefix)


def test_cli_publishes_the_annealing_mixture(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = build_mixture(tmp_path / "store", shared_data)
    write_annealing_mixture(built.store.root, "web-en", "web-en-anneal", SPEC, seed=3)
    target = str(tmp_path / "published")
    argv = ["--store", built.store.root, "publish", "web-en", "--to", target, "--no-report"]
    assert main([*argv, "--annealing", "web-en-anneal", "--annealing-fraction", "0.05"]) == 0
    assert "web-en-anneal: last 0.05 of tokens" in capsys.readouterr().out
    assert main(["consume", f"{target}/web-en", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["annealing"]["fraction"] == 0.05


def test_dag_params_carry_the_annealing_mixture(tmp_path: Path, shared_data: Path) -> None:
    from tasks.publish.airflow_glue import resolve_config

    built = build_mixture(tmp_path / "store", shared_data)
    base = {
        "mixture": "web-en",
        "store": built.store.root,
        "target": str(tmp_path / "p"),
        "force_latest": True,
    }
    config = resolve_config({**base, "annealing": "web-en-anneal", "annealing_fraction": 0.2}, [], "unused")
    assert (config.annealing, config.annealing_fraction) == ("web-en-anneal", 0.2)
    config = resolve_config({**base, "annealing": "", "annealing_fraction": None}, [], "unused")
    assert (config.annealing, config.annealing_fraction) == (None, None)
