"""``quarry export`` on a real (small) release: contents, determinism, the release left untouched, and a
kill -9 at the worst moments followed by a rerun that produces the same bytes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from export_helper import LocalRelease

from tasks.cli import main
from tasks.export import (
    EXPORT_MANIFEST,
    ExportConfig,
    ExportManifest,
    ExportResult,
    export_release,
    load_tokenizer,
)
from tasks.export.indexed import INDEX_HEADER, IndexedShard
from tasks.publish import open_mixture

REPO = Path(__file__).resolve().parents[3]


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _documents(out: Path, manifest: ExportManifest) -> Counter[tuple[int, ...]]:
    """Every document copy in the export (split at the EOS token), as a multiset of token tuples."""
    found: Counter[tuple[int, ...]] = Counter()
    for shard in manifest.shards:
        data = IndexedShard.open(str(out / shard.prefix))
        assert len(data) == shard.sequences + (1 if shard.tail_tokens else 0)
        assert all(int(n) == manifest.seq_len for n in data.lengths[: shard.sequences])
        stream = np.asarray(data.tokens)
        ends = np.flatnonzero(stream == manifest.tokenizer.eos_id)
        assert len(ends) == shard.documents and (not len(stream) or ends[-1] == len(stream) - 1)
        for piece in np.split(stream, ends + 1)[:-1]:
            found[tuple(int(t) for t in piece[:-1])] += 1
    return found


def test_export_holds_every_copy_tokenized_and_leaves_the_release_alone(
    local_release: LocalRelease, tokenizer_file: str, tmp_path: Path
) -> None:
    version_dir = local_release.target / "web-en" / "v1"
    before = _tree_digest(version_dir)
    result = export_release(ExportConfig(release=local_release.url, tokenizer=tokenizer_file, seq_len=64))
    out = Path(result.url)
    assert out.parent == local_release.target / "web-en" / "exports" / "v1"
    assert _tree_digest(version_dir) == before  # the release is only read
    m = result.manifest
    mix = open_mixture(local_release.url)
    assert m.release.version == 1 and m.release.content_digest == mix.manifest.content_digest
    assert (
        m.seed == 0 and m.seq_len == 64 and m.dtype == "uint16" and m.tokenizer.eos_token == "<|endoftext|>"
    )

    tok, _ = load_tokenizer(tokenizer_file)
    expected: Counter[tuple[int, ...]] = Counter()
    tokens_per_domain: Counter[str] = Counter()
    for doc in mix.iter_documents(columns=("text", "domain"), expand=True):
        ids = tuple(tok.encode(doc["text"], add_special_tokens=False).ids)
        expected[ids] += 1
        tokens_per_domain[doc["domain"]] += len(ids) + 1
    assert sum(expected.values()) == local_release.built.documents == m.totals.documents
    assert _documents(out, m) == expected  # every copy once per repetition, nothing else
    assert {d: s.tokens for d, s in m.domains.items()} == dict(tokens_per_domain)
    assert m.totals.tokens == sum(tokens_per_domain.values())
    assert m.totals.sequences * 64 + m.totals.tail_tokens == m.totals.tokens
    for shard in m.shards:  # the checksums in export.json are those of the files
        assert hashlib.sha256((out / f"{shard.prefix}.bin").read_bytes()).hexdigest() == shard.bin_sha256
        assert (out / f"{shard.prefix}.idx").read_bytes()[:9] == INDEX_HEADER
    assert not (out / "_work").exists()

    # another seed: the same copies, another order
    other = export_release(
        ExportConfig(release=local_release.url, tokenizer=tokenizer_file, seq_len=64, seed=7, shards=2)
    )
    assert other.manifest.seed == 7 and other.manifest.totals.shards == 2 and other.url != result.url
    assert _documents(Path(other.url), other.manifest) == expected
    assert [s.bin_sha256 for s in other.manifest.shards] != [s.bin_sha256 for s in m.shards[:2]]
    # running it again does nothing
    again = export_release(ExportConfig(release=local_release.url, tokenizer=tokenizer_file, seq_len=64))
    assert again.already_exported and again.manifest == m


@pytest.fixture(scope="module")
def reference(
    local_release: LocalRelease, tokenizer_file: str, tmp_path_factory: pytest.TempPathFactory
) -> ExportResult:
    """An uninterrupted export in this process, to compare other runs with."""
    out = tmp_path_factory.mktemp("reference") / "export"
    return export_release(
        ExportConfig(release=local_release.url, tokenizer=tokenizer_file, seq_len=64, out=str(out))
    )


def _run_export(release: str, out: Path, tokenizer: str, failpoint: str | None) -> int:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("QUARRY_FAILPOINT", None)
    if failpoint:
        env["QUARRY_FAILPOINT"] = failpoint
    code = (
        "import sys; from tasks.export import ExportConfig, export_release; "
        "export_release(ExportConfig(release=sys.argv[1], out=sys.argv[2], tokenizer=sys.argv[3], seq_len=64))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, release, str(out), tokenizer], env=env, cwd=REPO, timeout=300
    )
    return proc.returncode


def test_kill_9_then_rerun_gives_identical_output(
    local_release: LocalRelease, tokenizer_file: str, tmp_path: Path
) -> None:
    reference = export_release(
        ExportConfig(
            release=local_release.url, tokenizer=tokenizer_file, seq_len=64, out=str(tmp_path / "ref")
        )
    )
    out = tmp_path / "killed"
    # killed after the 3rd intermediate file of the map pass, then after the 2nd .bin of the reduce pass
    assert _run_export(local_release.url, out, tokenizer_file, "kill-before-rename:.parquet:3") == -9
    assert not (out / EXPORT_MANIFEST).exists() and (out / "_work" / "plan.json").exists()
    assert _run_export(local_release.url, out, tokenizer_file, "kill-before-rename:.bin:2") == -9
    assert not (out / EXPORT_MANIFEST).exists()
    done_maps = list((out / "_markers" / "map").glob("*.done"))
    assert len(done_maps) == len(reference.manifest.shards)  # the second run finished the map pass
    assert len(list((out / "_markers" / "reduce").glob("*.done"))) == 1
    assert _run_export(local_release.url, out, tokenizer_file, None) == 0
    resumed = ExportManifest.from_bytes((out / EXPORT_MANIFEST).read_bytes())
    assert resumed.model_dump(exclude={"created_at"}) == reference.manifest.model_dump(exclude={"created_at"})
    for shard in resumed.shards:
        for suffix in (".bin", ".idx"):
            assert (out / f"{shard.prefix}{suffix}").read_bytes() == (
                Path(reference.url) / f"{shard.prefix}{suffix}"
            ).read_bytes()
    assert not [p for p in out.rglob("*") if p.name.startswith(".tmp-")]


def test_cli_export_and_its_errors(
    local_release: LocalRelease, tokenizer_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    args = ["export", local_release.url, "--tokenizer", tokenizer_file, "--seq-len", "128", "--out", str(out)]
    assert main(args) == 0
    assert "sequences of 128" in capsys.readouterr().out
    assert (out / EXPORT_MANIFEST).exists()
    assert main(["export", local_release.url, "--tokenizer", str(tmp_path / "nope.json")]) == 2
    assert "tokenizer file" in capsys.readouterr().err
    assert main(["export", local_release.url, "--tokenizer", tokenizer_file, "--eos-token", "<nope>"]) == 2
    assert "has no token '<nope>'" in capsys.readouterr().err
    assert main(["export", local_release.url, "--version", "v9", "--tokenizer", tokenizer_file]) != 0
    # a finished export folder is never reused for other settings
    assert main([*args[:-4], "--seq-len", "96", "--out", str(out)]) == 2
    assert "holds an export of other inputs" in capsys.readouterr().err


def test_export_on_a_dask_cluster_writes_the_same_bytes(
    local_release: LocalRelease, tokenizer_file: str, tmp_path: Path, reference: ExportResult
) -> None:
    from tasks.runner import ClusterConfig

    one = reference
    two = export_release(
        ExportConfig(
            release=local_release.url,
            tokenizer=tokenizer_file,
            seq_len=64,
            out=str(tmp_path / "b"),
            cluster=ClusterConfig(n_workers=2),
        )
    )
    assert one.manifest.model_dump(exclude={"created_at"}) == two.manifest.model_dump(exclude={"created_at"})


def test_a_tampered_release_shard_stops_the_export(
    local_release: LocalRelease, tokenizer_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    target = tmp_path / "pub"
    shutil.copytree(local_release.target / "web-en" / "v1", target / "web-en" / "v1")
    shutil.copy(local_release.target / "web-en" / "latest", target / "web-en" / "latest")
    shard = sorted((target / "web-en" / "v1" / "shards").glob("*.parquet"))[1]
    shard.write_bytes(sorted((target / "web-en" / "v1" / "shards").glob("*.parquet"))[0].read_bytes())
    out = tmp_path / "out"
    code = main(["export", str(target / "web-en"), "--tokenizer", tokenizer_file, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "does not match the manifest" in err and shard.name in err
    assert not (out / EXPORT_MANIFEST).exists()
