"""Extraction quality of an ingested snapshot against trafilatura's ``evaldata.json`` snippets.

A page passes when every must-snippet is in its extracted text and no must-not snippet is. Extraction is
judged on every document the ingest produced from the page, kept or removed by the quality filters (filters
are a separate decision from extraction). Language is checked where the site's country implies it.
Pages are matched on their URL without surrounding white space (:func:`eval_key`). The pages split into two
halves by a hash of their site (:func:`site_half`): the precision stage was tuned on half 0 only, half 1 is
held out.

Snippets are matched as trafilatura's own evaluation matches them (``tests/eval_common.py``, ``count_item``, and
its ``comparison.py`` before it): a substring test after white space is collapsed, **case-sensitive**, so a
navigation item "Projekte" is not found in an article's "Multimediaprojekten". ``fold_case=True`` lower-cases
both sides first, as WCXB's ``evaluate.py`` does (:mod:`tasks.ingest.snippet_benchmark`); on trafilatura's pages
it is stricter than the reference: it also catches boilerplate kept in another case ("REKLAMA" for the snippet
"Reklama") and, more often, words of the article that only share letters with a snippet.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from tasks.ingest.sample_snapshot import EvalPage
from tasks.storage import Store, list_files, read_json, read_parquet

_WS = re.compile(r"\s+")
_TLD_LANGUAGE = {
    "de": "de",
    "at": "de",
    "fr": "fr",
    "it": "it",
    "pl": "pl",
    "br": "pt",
    "es": "es",
    "nl": "nl",
    "jp": "ja",
}


def snippet_key(text: str, fold_case: bool = False) -> str:
    """``text`` (an extract or a snippet) as snippets are matched in it: white space collapsed, lower-cased only
    with ``fold_case``."""
    text = _WS.sub(" ", text).strip()
    return text.lower() if fold_case else text


def eval_key(url: str) -> str:
    """The key a page is matched on: its URL without surrounding white space (9 URLs in trafilatura's
    ``evaldata.json`` end with a space, which no WARC header or document keeps)."""
    return url.strip()


def site(url: str) -> str:
    host = re.sub(r"^https?://", "", url.strip()).split("/", 1)[0].split(":")[0].lower()
    return host.removeprefix("www.")


def site_half(url: str) -> int:
    """0 or 1 by a hash of the page's site: the tuning half (0) and the held-out half (1) never share a site."""
    return int(hashlib.sha1(site(url).encode()).hexdigest(), 16) % 2


@dataclass(frozen=True)
class ExtractionReport:
    pages: int
    found: int
    passed: int
    must_recall: float
    must_not_clean: float
    language_checked: int
    language_correct: int

    @property
    def pass_share(self) -> float:
        return self.passed / self.found if self.found else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "pass_share": round(self.pass_share, 4)}


def score_texts(
    evaldata: dict[str, dict[str, Any]],
    texts: dict[str, tuple[str, str | None]],
    half: int | None = None,
    fold_case: bool = False,
) -> ExtractionReport:
    """Score extracted ``texts`` (keyed by :func:`eval_key` of the URL: (text, language)) against the
    must / must-not snippets; ``half`` restricts to one :func:`site_half` of the pages; ``fold_case``
    lower-cases texts and snippets before matching (the module's notes)."""
    pages = found = passed = must_total = must_hit = not_total = not_clean = lang_checked = lang_ok = 0
    for raw_url, info in evaldata.items():
        url = eval_key(raw_url)
        if half is not None and site_half(url) != half:
            continue
        pages += 1
        if url not in texts:
            continue
        found += 1
        text, language = texts[url]
        norm = snippet_key(text, fold_case)
        must = [snippet_key(s, fold_case) for s in info.get("with") or [] if s.strip()]
        must_not = [snippet_key(s, fold_case) for s in info.get("without") or [] if s.strip()]
        hits = sum(s in norm for s in must)
        clean = sum(s not in norm for s in must_not)
        must_total += len(must)
        must_hit += hits
        not_total += len(must_not)
        not_clean += clean
        if hits == len(must) and clean == len(must_not):
            passed += 1
        expected = _TLD_LANGUAGE.get(site(url).rsplit(".", 1)[-1])
        if expected and language is not None:
            lang_checked += 1
            lang_ok += language == expected
    return ExtractionReport(
        pages=pages,
        found=found,
        passed=passed,
        must_recall=must_hit / must_total if must_total else 0.0,
        must_not_clean=not_clean / not_total if not_total else 0.0,
        language_checked=lang_checked,
        language_correct=lang_ok,
    )


def _texts(store: Store, snapshot: str) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    sources = [store.documents(snapshot), store.path("removed", snapshot)]
    for directory in sources:
        for url in list_files(directory, (".parquet",)):
            table: pa.Table = read_parquet(url, columns=["url", "text", "language"])
            for page, text, lang in zip(
                table.column("url").to_pylist(),
                table.column("text").to_pylist(),
                table.column("language").to_pylist(),
                strict=True,
            ):
                out.setdefault(eval_key(page), (text, lang))
    return out


def evaluate_extraction(
    store_root: str, snapshot: str, evaldata_url: str, half: int | None = None, fold_case: bool = False
) -> ExtractionReport:
    evaldata: dict[str, dict[str, Any]] = read_json(evaldata_url)
    return score_texts(evaldata, _texts(Store(store_root), snapshot), half, fold_case)


def evaldata_of(pages: Iterable[EvalPage]) -> dict[str, dict[str, Any]]:
    """``evaldata.json``'s shape for pages loaded with :func:`tasks.ingest.sample_snapshot.load_eval_pages`."""
    return {p.url: {"file": p.file, "with": list(p.must), "without": list(p.must_not)} for p in pages}


def score_extractor(
    pages: Sequence[EvalPage],
    extract: Callable[[bytes], str],
    half: int | None = None,
    fold_case: bool = False,
) -> ExtractionReport:
    """Run ``extract`` (page bytes → text) on the pages (of one site half, if given) and score it; no store
    and no language ID involved: the quick loop for tuning, tests and ``bench/bench_extract.py``."""
    chosen = [p for p in pages if half is None or site_half(p.url) == half]
    texts: dict[str, tuple[str, str | None]] = {eval_key(p.url): (extract(p.html), None) for p in chosen}
    return score_texts(evaldata_of(chosen), texts, fold_case=fold_case)
