"""Scoring against trafilatura's evaldata: every page with HTML is scored, whatever white space its URL has."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from tasks.ingest.evaluate import eval_key, score_texts, site_half
from tasks.ingest.sample_snapshot import TARBALL, load_eval_pages


def _raw_evaldata(shared_data: Path) -> dict[str, dict[str, object]]:
    with tarfile.open(shared_data / TARBALL, "r:xz") as tar:
        for member in tar:
            if member.name.endswith("evaldata.json"):
                fh = tar.extractfile(member)
                assert fh is not None
                data: dict[str, dict[str, object]] = json.loads(fh.read())
                return data
    raise AssertionError("evaldata.json not in the tarball")


def test_urls_ending_in_a_space_are_scored(shared_data: Path) -> None:
    raw = _raw_evaldata(shared_data)
    spaced = [url for url in raw if url != url.strip()]
    assert len(spaced) == 9  # the German pages that were never scored
    pages = load_eval_pages(shared_data)
    urls = {p.url for p in pages}
    assert all(url == url.strip() for url in urls)
    present = [u for u in spaced if u.strip() in urls]
    assert present, "none of the space-suffixed pages has HTML in the tarball"
    # The raw evaldata (keys with the space) against texts keyed as the ingest stores them (no space).
    texts = {p.url: ("", None) for p in pages}
    report = score_texts(raw, texts)
    assert report.found == len(pages) == 884
    # Without the key normalisation those pages would be missing.
    assert sum(1 for u in raw if u in texts) == report.found - len(present)


def test_score_texts_counts_snippets_and_halves() -> None:
    evaldata = {
        "https://a.example/x ": {"with": ["Alpha beta"], "without": ["Cookie notice"]},
        "https://b.example/y": {"with": ["gamma"], "without": ["footer"]},
    }
    texts: dict[str, tuple[str, str | None]] = {
        "https://a.example/x": ("alpha  BETA and more", None),
        eval_key("https://b.example/y"): ("gamma ... footer", None),
    }
    # Case-sensitive, as trafilatura's scorer: "Alpha beta" is not in "alpha  BETA and more".
    report = score_texts(evaldata, texts)
    assert (report.found, report.passed, report.must_recall, report.must_not_clean) == (2, 0, 0.5, 0.5)
    folded = score_texts(evaldata, texts, fold_case=True)
    assert (folded.found, folded.passed, folded.must_recall, folded.must_not_clean) == (2, 1, 1.0, 0.5)
    halves = [score_texts(evaldata, texts, half=h) for h in (0, 1)]
    assert sum(r.found for r in halves) == 2
    assert site_half("https://www.a.example/z") == site_half("http://a.example/x")


def test_snippets_match_case_sensitively_after_white_space_is_collapsed() -> None:
    """trafilatura's scorer (tests/eval_common.py): a navigation item "Projekte" is not in an article that says
    "Multimediaprojekten"; a snippet split over lines in the extract is still found."""
    evaldata = {"https://c.example/p": {"with": ["seit 1998 in Berlin"], "without": ["Projekte"]}}
    text = "Umsetzung von über 70 Multimediaprojekten,\n seit   1998\tin Berlin."
    report = score_texts(evaldata, {"https://c.example/p": (text, None)})
    assert (report.must_recall, report.must_not_clean, report.passed) == (1.0, 1.0, 1)
    folded = score_texts(evaldata, {"https://c.example/p": (text, None)}, fold_case=True)
    assert (folded.must_recall, folded.must_not_clean, folded.passed) == (1.0, 0.0, 0)
