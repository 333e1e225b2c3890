"""The WCXB loader and snippet scoring on a generated checkout in the benchmark's layout."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tasks.ingest.snippet_benchmark import load_wcxb, score_snippets


def _write_page(
    root: Path, split: str, key: str, page_type: str, must: list[str], must_not: list[str]
) -> None:
    (root / split / "ground-truth").mkdir(parents=True, exist_ok=True)
    (root / split / "html").mkdir(parents=True, exist_ok=True)
    entry = {
        "schema_version": "2.0",
        "file_id": key,
        "_internal": {"page_type": {"primary": page_type}},
        "ground_truth": {
            "url": f"https://{key}.example/",
            "main_content": " ".join(must),
            "with": [*must, "  "],
            "without": must_not,
        },
    }
    (root / split / "ground-truth" / f"{key}.json").write_text(json.dumps(entry), encoding="utf-8")
    (root / split / "html" / f"{key}.html.gz").write_bytes(gzip.compress(f"<p>{key}</p>".encode()))


def test_loads_a_split_in_id_order_with_types_and_snippets(tmp_path: Path) -> None:
    _write_page(tmp_path, "test", "0002", "forum", ["a post"], ["sign in"])
    _write_page(tmp_path, "test", "0001", "article", ["first line", "second line"], ["subscribe now"])
    _write_page(tmp_path, "dev", "0003", "product", ["price"], [])
    pages = load_wcxb(tmp_path)
    assert [p.key for p in pages] == ["0001", "0002"]
    first = pages[0]
    assert first.page_type == "article" and first.url == "https://0001.example/"
    assert first.must == ("first line", "second line")  # the blank snippet is not one
    assert first.html == b"<p>0001</p>" and first.body == "first line second line"
    assert [p.key for p in load_wcxb(tmp_path, "dev")] == ["0003"]


def test_scores_per_page_type_and_counts_a_missing_extract_as_empty(tmp_path: Path) -> None:
    _write_page(tmp_path, "test", "0001", "article", ["First  Line", "second line"], ["Subscribe now"])
    _write_page(tmp_path, "test", "0002", "article", ["kept"], ["menu"])
    _write_page(tmp_path, "test", "0003", "forum", ["a post"], ["sign in"])
    pages = load_wcxb(tmp_path)
    texts = {
        "0001": "first line\n\nsecond\nline and more",  # white space and case do not matter
        "0002": "kept, with the menu",
    }  # 0003 has no extract
    scores = score_snippets(pages, texts)
    article, forum, every = scores["article"], scores["forum"], scores["all"]
    assert (article.pages, article.passed) == (2, 1)
    assert article.must_recall == pytest.approx(3 / 3) and article.must_not_clean == pytest.approx(1 / 2)
    assert (forum.pages, forum.passed, forum.must_recall, forum.must_not_clean) == (1, 0, 0.0, 1.0)
    assert every.pages == 3 and every.pass_share == pytest.approx(1 / 3)
    assert every.must_recall == pytest.approx(3 / 4) and every.must_not_clean == pytest.approx(2 / 3)


def test_a_folder_that_is_not_a_checkout_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="expected a WCXB checkout"):
        load_wcxb(tmp_path)
    with pytest.raises(ValueError, match="split must be one of"):
        load_wcxb(tmp_path, "train")
    _write_page(tmp_path, "test", "0001", "article", ["x"], [])
    (tmp_path / "test" / "html" / "0001.html.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no test/html/0001\.html\.gz"):
        load_wcxb(tmp_path)
