"""Smoke tests of the benchmarks: the Quarry side of each bench script on a tiny real input prints its tables.

The peer (datatrove) side needs bench/setup_peers.sh and minutes of CPU, so CI runs ``--quarry-only``; the
measurement helper itself is checked against a child that allocates a known amount of memory.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_bench_common() -> ModuleType:
    """bench/common.py under a private name: putting bench/ on sys.path would shadow dags/quarry_common (the DAGs'
    ``from quarry_common.assets import ...``) for every later test in the session."""
    spec = importlib.util.spec_from_file_location("quarry_bench_common", REPO / "bench" / "common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


common = _load_bench_common()


def _run(args: list[str]) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _table_rows(output: str, title: str) -> list[list[str]]:
    """The body rows of the markdown table under ``### <title>...``."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("### " + title))
    rows = []
    for line in lines[start + 4 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _number(cell: str) -> float:
    match = re.match(r"[\d,.]+", cell)
    assert match, f"not a number: {cell!r}"
    return float(match.group(0).replace(",", ""))


def test_ingest_bench_quarry_side_prints_table(shared_data: Path, tmp_path: Path) -> None:
    out = _run(
        [
            "bench/bench_ingest.py",
            "--quarry-only",
            "--repeat",
            "1",
            "--rounds",
            "1",
            "--shared",
            str(shared_data),
            "--workdir",
            str(tmp_path),
        ]
    )
    rows = _table_rows(out, "Ingest:")
    assert [r[0] for r in rows] == ["quarry"]
    quarry = rows[0]
    assert _number(quarry[2]) > 800  # every trafilatura page is one WARC response record
    assert 0 < _number(quarry[3]) < _number(quarry[2])  # filters keep some, drop some
    assert _number(quarry[4]) > 0 and _number(quarry[6]) > 50  # a rate and a plausible peak RSS (MiB)
    stages = {r[0] for r in _table_rows(out, "Quarry: where the ingest time goes")}
    assert {"extract", "langid", "filters", "write"} <= stages
    assert "input:" in out and "pinned to CPU" in out


def test_dedup_bench_quarry_side_finds_the_near_duplicates(shared_data: Path, tmp_path: Path) -> None:
    base = 30
    out = _run(
        [
            "bench/bench_dedup.py",
            "--quarry-only",
            "--base",
            str(base),
            "--scales",
            "1,2",
            "--shared",
            str(shared_data),
            "--workdir",
            str(tmp_path),
        ]
    )
    sig = _table_rows(out, "MinHash signatures")
    assert [r[0] for r in sig] == ["1x", "2x"]
    assert [_number(r[1]) for r in sig] == [base, 2 * base]
    assert all(_number(r[2]) > 0 for r in sig)
    lsh = _table_rows(out, "LSH buckets")
    # Every 2x copy is a ~1%-edited near duplicate of a 1x page: MinHash LSH must find (nearly) all of them.
    assert _number(lsh[0][7]) == 0
    assert _number(lsh[1][7]) >= 0.9 * base
    memory = _table_rows(out, "Dedup memory")
    assert len(memory) == 2 and all(_number(r[3]) > 0 for r in memory)


def test_run_measured_sees_a_childs_memory_and_cpu() -> None:
    code = (
        "import sys, time; sys.path.insert(0, 'bench'); import common\n"
        "with common.Region() as r:\n"
        "    block = bytearray(200 * 1024 * 1024)\n"
        "    block[:: 4096] = b'x' * len(block[:: 4096])\n"
        "    sum(range(3_000_000))\n"
        "    time.sleep(0.3)\n"
        "common.emit({**r.as_dict(), 'peak': common.max_rss_mib()})\n"
    )
    measured = common.run_measured("alloc", [sys.executable, "-c", code], cpu=common.pick_cpu(None))
    assert measured.cpu_s > 0 and measured.wall_s >= 0.3
    assert 200 <= measured.result["peak"] < 400  # the child's own peak, not this (pytest) process's
    assert measured.peak_tree_rss_mib >= 200
    text = common.table("t", ["a", "b"], [["x", 1.5], ["y", 12345]])
    assert text.splitlines()[2:] == ["| a | b      |", "|---|--------|", "| x | 1.50   |", "| y | 12,345 |"]


def test_a_floor_passes_at_and_above_it_and_fails_below(capsys: pytest.CaptureFixture[str]) -> None:
    assert common.check_floor(2.33, 2.0, "quarry / peer") == 0
    assert "floor met: quarry / peer 2.33x" in capsys.readouterr().out
    assert common.check_floor(1.86, 2.0, "quarry / peer") == 3
    assert "FLOOR MISSED: quarry / peer 1.86x, under the 2.00x floor" in capsys.readouterr().out
    assert common.check_floor(0.5, 0, "off") == 0 and capsys.readouterr().out == ""


def _article_page(n: int) -> tuple[str, str]:
    """A news page in the benchmark's layout: navigation, a cookie notice, the article with gallery counters
    between its paragraphs, a credit line; the ground truth is the article's paragraphs."""
    paragraphs = [
        f"Paragraph {i} of story {n} tells the reader what happened at the harbour on a stormy night in spring."
        for i in range(6)
    ]
    gallery = "".join(f"<div>Image {i} of 3</div>" for i in range(1, 4))
    html = (
        "<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav><main><article>"
        f"<h1>Story {n}</h1><p>We use cookies to improve your experience on our site.</p>"
        + "".join(f"<p>{p}</p>" for p in paragraphs[:3])
        + gallery
        + "".join(f"<p>{p}</p>" for p in paragraphs[3:])
        + "<p>Jane Doe contributed to this report.</p></article></main></body></html>"
    )
    return html, "\n\n".join(paragraphs)


def test_extract_bench_scores_an_article_benchmark(shared_data: Path, tmp_path: Path) -> None:
    import gzip
    import json

    root = tmp_path / "article-benchmark"
    (root / "html").mkdir(parents=True)
    truth = {}
    for n in range(3):
        html, body = _article_page(n)
        (root / "html" / f"page{n}.html.gz").write_bytes(gzip.compress(html.encode("utf-8")))
        truth[f"page{n}"] = {"url": f"https://news.example/{n}", "articleBody": body}
    (root / "ground-truth.json").write_text(json.dumps(truth), encoding="utf-8")
    out = _run(
        [
            "bench/bench_extract.py",
            "--skip-peer",
            "--limit",
            "10",
            "--cpu",
            "-1",
            "--shared-data",
            str(shared_data),
            "--article-benchmark",
            str(root),
        ]
    )
    assert "input: 10 trafilatura evaluation pages" in out
    rows = {r[0]: r for r in _table_rows(out, "Whole-article ground truth")}
    assert set(rows) == {"quarry", "resiliparse"}
    quarry, plain = ([_number(c) for c in rows[name][1:]] for name in ("quarry", "resiliparse"))
    assert quarry[0] == plain[0] == 3
    assert quarry[2] == pytest.approx(1.0)  # every paragraph of the article is found
    assert quarry[1] > plain[1]  # and the notice, the counters and the credit line are not
    assert "quarry - resiliparse (95 % paired page bootstrap): precision +" in out


def test_extract_bench_scores_a_wcxb_split_per_page_type(shared_data: Path, tmp_path: Path) -> None:
    import gzip
    import json

    root = tmp_path / "wcxb"
    for sub in ("ground-truth", "html"):
        (root / "test" / sub).mkdir(parents=True)
    for n in range(3):
        html, body = _article_page(n)
        page_type = "forum" if n == 2 else "article"
        truth = {
            "_internal": {"page_type": {"primary": page_type}},
            "ground_truth": {
                "url": f"https://news.example/{n}",
                "with": body.split("\n\n")[::2],
                "without": [
                    "We use cookies to improve your experience",
                    "Image 2 of 3",
                    "contributed to this report",
                ],
            },
        }
        (root / "test" / "ground-truth" / f"{n:04d}.json").write_text(json.dumps(truth), encoding="utf-8")
        (root / "test" / "html" / f"{n:04d}.html.gz").write_bytes(gzip.compress(html.encode("utf-8")))
    out = _run(
        [
            "bench/bench_extract.py",
            "--skip-peer",
            "--limit",
            "5",
            "--cpu",
            "-1",
            "--shared-data",
            str(shared_data),
            "--wcxb",
            str(root),
        ]
    )
    rows = {(r[0], r[1]): [_number(c) for c in r[2:]] for r in _table_rows(out, "WCXB test split (held out")}
    assert set(rows) == {(g, e) for g in ("all", "article", "forum") for e in ("quarry", "resiliparse")}
    assert rows[("all", "quarry")][0] == 3 and rows[("article", "quarry")][0] == 2
    quarry, plain = rows[("all", "quarry")], rows[("all", "resiliparse")]
    assert quarry[2] == pytest.approx(1.0)  # every with-snippet is found
    assert quarry[3] == pytest.approx(1.0) and plain[3] < 1.0  # the chrome Resiliparse keeps is gone
