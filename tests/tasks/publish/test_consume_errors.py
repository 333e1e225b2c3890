"""What a consumer gets wrong gets one line and exit code 2; what the store got wrong, one line and exit 1
(issue 9, item 7). And a tampered report is refused like a tampered shard."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mixture_helper import build_mixture

from tasks.cli import main
from tasks.publish import ChecksumMismatch, PublishConfig, open_mixture, publish_mixture

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    root = tmp_path_factory.mktemp("consume")
    built = build_mixture(root / "store", shared_data)
    target = root / "published"
    publish_mixture(
        PublishConfig(store=built.store.root, name="web-en", target=str(target), max_rows_per_shard=8)
    )
    return target


def _consume(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["consume", *args])
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    ("where", "extra", "message"),
    [
        ("web-en/v1/manifest.json", [], "is a file"),  # a file, not a release URL
        ("web-en/v1/shards", ["--list"], "no published versions"),
        ("nothing-here", [], "no published version"),  # a URL where nothing was published
        ("nothing-here", ["--list"], "no published versions"),
        ("web-en", ["--version", "newest"], "version must be"),  # a bad version
        ("web-en", ["--version", "v0"], "version must be"),
        ("web-en", ["--version", "v9"], "v9 does not exist"),  # a version that was never published
        ("web-en/v9", [], "v9 does not exist"),
    ],
)
def test_odd_paths_get_one_line_and_exit_2(
    published: Path, capsys: pytest.CaptureFixture[str], where: str, extra: list[str], message: str
) -> None:
    code, err = _consume(capsys, str(published / where), *extra)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("quarry consume: error: ")
    assert message in err


def test_a_version_number_works_with_or_without_v(
    published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _consume(capsys, str(published / "web-en"), "--version", "1")[0] == 0
    assert _consume(capsys, str(published / "web-en"), "--version", "v1")[0] == 0


def test_a_file_as_the_url_exits_2_without_a_traceback(published: Path) -> None:
    """The whole process, as a user runs it: before the fix this printed NotADirectoryError's traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "tasks.cli", "consume", str(published / "web-en" / "latest")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "is a file" in proc.stderr


def test_a_corrupt_manifest_or_pointer_exits_1_with_one_line(
    tmp_path: Path, published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(published, copy)
    (copy / "web-en" / "v1" / "manifest.json").write_text('{"format": "quarry.mixture/1"}')
    code, err = _consume(capsys, str(copy / "web-en" / "v1"))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "is not a valid manifest" in err
    (copy / "web-en" / "latest").write_text("not json")
    code, err = _consume(capsys, str(copy / "web-en"))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "is not a valid pointer" in err


def test_tampered_report_is_refused(tmp_path: Path, published: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(published, copy)
    mix = open_mixture(str(copy / "web-en"))
    html = mix.report_html()
    assert html is not None and "web-en v1" in html  # the genuine report reads fine
    report = copy / "web-en" / "v1" / "report.html"
    report.write_text(html.replace("web-en v1", "web-en v1 (all good, trust me)"))
    with pytest.raises(ChecksumMismatch, match=r"report\.html does not match the manifest"):
        mix.report_html()
    assert not mix.verify().ok  # verify() agrees
