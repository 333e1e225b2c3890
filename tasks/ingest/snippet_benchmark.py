"""Extraction quality on WCXB, the Web Content eXtraction Benchmark: a second set of pages with snippets.

WCXB (github.com/Murrough-Foley/web-content-extraction-benchmark, CC-BY-4.0) holds 2,008 human-reviewed pages
of 2025-26 from 1,613 sites in seven page types (article, service, product, collection, forum, listing,
documentation), split into ``dev`` (1,497 pages) and a held-out ``test`` split (511). Like trafilatura's
evaluation data, each page has snippets that must appear in a good extract (``with``) and boilerplate that
must not (``without``). Layout of a checkout: ``<split>/ground-truth/<id>.json`` and
``<split>/html/<id>.html.gz``. It is not in ``../shared/data``; pass the path of a checkout (nothing is
downloaded).

Quarry's chrome phrases of ``RULES_VERSION`` 2026-12-07.7 and the whole-page fallback's chrome elements of
2026-12-07.8 were chosen on the dev split; the test split is reported as held out. Snippets are scored by the
trafilatura pages' scorer with ``fold_case`` (white space collapsed, lower-cased, substring), where WCXB's own
``evaluate.py`` lower-cases without collapsing white space; per page type the benchmark's pass share,
with-recall and without-cleanliness follow.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.ingest.evaluate import ExtractionReport, score_texts

SPLITS = ("dev", "test")


@dataclass(frozen=True)
class SnippetPage:
    key: str
    url: str
    page_type: str
    html: bytes
    must: tuple[str, ...]
    must_not: tuple[str, ...]
    body: str  # the page's whole main content, as the annotators extracted it


def load_wcxb(root: Path, split: str = "test") -> list[SnippetPage]:
    """The pages of one split of a WCXB checkout at ``root``, in id order; a clear error if it is not one."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    truth_dir = root / split / "ground-truth"
    if not truth_dir.is_dir():
        raise FileNotFoundError(f"{root}: no {split}/ground-truth/ (expected a WCXB checkout)")
    pages: list[SnippetPage] = []
    for path in sorted(truth_dir.glob("*.json")):
        html_path = root / split / "html" / f"{path.stem}.html.gz"
        if not html_path.is_file():
            raise FileNotFoundError(
                f"{root}: {split}/ground-truth/{path.name} has no {split}/html/{html_path.name}"
            )
        entry = json.loads(path.read_text(encoding="utf-8"))
        truth = entry.get("ground_truth") or {}
        page_type = ((entry.get("_internal") or {}).get("page_type") or {}).get("primary") or "unknown"
        pages.append(
            SnippetPage(
                key=path.stem,
                url=entry.get("url") or truth.get("url") or "",
                page_type=page_type,
                html=gzip.decompress(html_path.read_bytes()),
                must=tuple(s for s in truth.get("with") or [] if s.strip()),
                must_not=tuple(s for s in truth.get("without") or [] if s.strip()),
                body=truth.get("main_content") or "",
            )
        )
    if not pages:
        raise FileNotFoundError(f"{root}: {split}/ground-truth/ holds no pages")
    return pages


def score_snippets(pages: Sequence[SnippetPage], texts: Mapping[str, str]) -> dict[str, ExtractionReport]:
    """Scores of the extracts ``texts`` (by page key) for all pages (``"all"``) and per page type, by the
    trafilatura pages' scorer (:func:`tasks.ingest.evaluate.score_texts`), lower-cased as WCXB's is. A page
    without an extract counts as an empty one: every must snippet missed, every must-not snippet clean."""
    groups: dict[str, list[SnippetPage]] = {"all": list(pages)}
    for page in pages:
        groups.setdefault(page.page_type, []).append(page)
    return {
        group: score_texts(
            {p.key: {"with": list(p.must), "without": list(p.must_not)} for p in chosen},
            {p.key: (texts.get(p.key, ""), None) for p in chosen},
            fold_case=True,
        )
        for group, chosen in groups.items()
    }
