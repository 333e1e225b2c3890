"""Extraction quality and cost side by side: Quarry (Resiliparse + precision stage), Resiliparse alone, Trafilatura.

    bash bench/setup_peers.sh                 # Trafilatura lives in .venv-bench-datatrove, not in Quarry's lock
    .venv/bin/python bench/bench_extract.py   # --rounds 3, --cpu N

Input: the trafilatura evaluation pages in ``../shared/data/crawl/html-trafilatura-eval`` (884 with HTML).
Each extractor runs in its own child process pinned to one CPU, on the same decoded HTML, and times every page
(CPU time of the call). Quality is trafilatura's own evaluation data (must / must-not snippets), matched as
trafilatura's own scorer matches them (white space collapsed, case-sensitive; the last column lower-cases
both sides first, the stricter scorer Quarry used until 2026-12-08: ``tasks.ingest.evaluate``), reported for
each site half (``tasks.ingest.evaluate.site_half``): Quarry's precision stage was tuned on half 0, half 1 is
held out. "added ms" is the paired per-page difference Quarry − Resiliparse: the cost of the precision stage.

``--article-benchmark DIR`` also scores the three extractors on pages the stage was never tuned on, against
whole-article ground truth: a checkout of scrapinghub's article-extraction-benchmark (181 pages; not in
``../shared/data``, see ``tasks/ingest/article_benchmark.py``), with paired 95 % intervals of the differences.
``--wcxb DIR`` scores them on a split of WCXB (``tasks/ingest/snippet_benchmark.py``: 2025-26 pages of seven
types with must / must-not snippets; ``--wcxb-split test``, the held-out split, by default), per page type.
The per-shard site-template pass (``tasks/ingest/boilerplate/site.py``) runs in the ingest, not here: the
evaluation pages are nearly all one page per site, so it would not change these numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from common import (  # noqa: E402
    DATATROVE_PYTHON,
    QUARRY_PYTHON,
    Region,
    default_shared,
    emit,
    machine_line,
    med,
    peer_available,
    peer_env,
    pick_cpu,
    run_measured,
    table,
)


def _child(mode: str, pages_path: str, out: str) -> None:
    """Quarry-side child: ``html_to_text`` with ``boilerplate=mode`` on every page."""
    from tasks.ingest.extract import ExtractConfig, html_to_text

    config = ExtractConfig(boilerplate=mode)  # type: ignore[arg-type]
    with open(pages_path, encoding="utf-8") as fh:
        pages: dict[str, str] = json.load(fh)
    payloads = {key: html.encode("utf-8") for key, html in pages.items()}
    html_to_text(b"<html><body><p>warm up</p></body></html>", "utf-8", config)
    texts: dict[str, str] = {}
    cpu_ms: list[float] = []
    with Region() as region:
        for key, payload in payloads.items():
            start = time.process_time()
            texts[key] = html_to_text(payload, "utf-8", config)
            cpu_ms.append((time.process_time() - start) * 1000)
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"texts": texts, "cpu_ms": cpu_ms}, fh)
    emit({**region.as_dict(), "pages": len(texts)})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared-data", default=str(default_shared()))
    parser.add_argument(
        "--rounds", type=int, default=1, help="timing rounds (quality is the same each round)"
    )
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin children to (-1: no pinning)")
    parser.add_argument("--skip-peer", action="store_true", help="Quarry and Resiliparse only")
    parser.add_argument(
        "--article-benchmark",
        metavar="DIR",
        help="also score on an article-extraction-benchmark checkout (html/*.html.gz, ground-truth.json)",
    )
    parser.add_argument("--wcxb", metavar="DIR", help="also score on a WCXB checkout (per page type)")
    parser.add_argument("--wcxb-split", choices=("dev", "test"), default="test")
    parser.add_argument(
        "--limit", type=int, default=None, help="only the first N evaluation pages (smoke runs)"
    )
    parser.add_argument("--child", choices=("quarry", "resiliparse"), help=argparse.SUPPRESS)
    parser.add_argument("--pages", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.pages, args.out)
        return

    from tasks.ingest.article_benchmark import load_article_benchmark
    from tasks.ingest.charset import decode
    from tasks.ingest.evaluate import ExtractionReport, eval_key, evaldata_of, score_texts
    from tasks.ingest.sample_snapshot import load_eval_pages
    from tasks.ingest.snippet_benchmark import load_wcxb

    pages = load_eval_pages(Path(args.shared_data))[: args.limit]
    articles = load_article_benchmark(Path(args.article_benchmark)) if args.article_benchmark else []
    wcxb = load_wcxb(Path(args.wcxb), args.wcxb_split) if args.wcxb else []
    evaldata = evaldata_of(pages)
    cpu = pick_cpu(args.cpu)
    sides: list[tuple[str, list[str], dict[str, str]]] = [
        ("quarry", [str(QUARRY_PYTHON), __file__, "--child", "quarry"], {}),
        ("resiliparse", [str(QUARRY_PYTHON), __file__, "--child", "resiliparse"], {}),
    ]
    ok, why = peer_available()
    if args.skip_peer or not ok:
        if not args.skip_peer:
            print(f"trafilatura skipped: {why}", file=sys.stderr)
    else:
        script = str(BENCH / "peers" / "trafilatura_extract.py")
        sides.append(("trafilatura", [str(DATATROVE_PYTHON), script], peer_env()))

    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in sides}
    with tempfile.TemporaryDirectory(prefix="quarry-bench-extract-") as tmp:
        pages_path = Path(tmp) / "pages.json"
        pages_path.write_text(
            json.dumps({eval_key(p.url): decode(p.html, None)[0] for p in pages}), encoding="utf-8"
        )
        for _ in range(args.rounds):
            for name, cmd, env in sides:
                out = Path(tmp) / f"{name}.json"
                run_measured(name, [*cmd, "--pages", str(pages_path), "--out", str(out)], cpu=cpu, env=env)
                results[name].append(json.loads(out.read_text(encoding="utf-8")))
        extra: dict[str, dict[str, dict[str, str]]] = {}
        for label, extra_pages in (("articles", articles), ("wcxb", wcxb)):
            if not extra_pages:
                continue
            extra_path = Path(tmp) / f"{label}.json"
            extra_path.write_text(
                json.dumps({p.key: decode(p.html, None)[0] for p in extra_pages}), encoding="utf-8"
            )
            for name, cmd, env in sides:
                out = Path(tmp) / f"{name}-{label}.json"
                run_measured(name, [*cmd, "--pages", str(extra_path), "--out", str(out)], cpu=cpu, env=env)
                extra.setdefault(label, {})[name] = json.loads(out.read_text(encoding="utf-8"))["texts"]

    print(machine_line())
    print(f"input: {len(pages)} trafilatura evaluation pages; {args.rounds} round(s); pinned to CPU {cpu}\n")
    keys = [eval_key(p.url) for p in pages]
    per_page = {name: _median_per_page(runs, len(keys)) for name, runs in results.items()}
    rows: list[list[Any]] = []
    for name, runs in results.items():
        texts: dict[str, tuple[str, str | None]] = {k: (t, None) for k, t in runs[0]["texts"].items()}
        reports: list[ExtractionReport] = [score_texts(evaldata, texts, half=h) for h in (0, 1, None)]
        folded = [score_texts(evaldata, texts, half=h, fold_case=True) for h in (0, 1, None)]
        for label, rep, fold in zip(("0 (tuning)", "1 (held out)", "all"), reports, folded, strict=True):
            rows.append(
                [
                    name,
                    label,
                    rep.found,
                    f"{rep.pass_share:.3f}",
                    f"{rep.must_recall:.3f}",
                    f"{rep.must_not_clean:.3f}",
                    med(per_page[name]),
                    sum(per_page[name]) / len(per_page[name]),
                    f"{fold.must_not_clean:.3f}",
                ]
            )
    print(
        table(
            "Extraction quality (trafilatura evaldata) and CPU ms per page, one core",
            [
                "extractor",
                "site half",
                "pages",
                "pass_share",
                "must_recall",
                "must_not_clean",
                "median ms",
                "mean ms",
                "must_not_clean, case-folded",
            ],
            rows,
        )
    )
    for name, runs in results.items():
        texts = {k: (t, None) for k, t in runs[0]["texts"].items()}
        low, high = _site_interval(evaldata, texts, 1, fold_case=False)
        folded_low, folded_high = _site_interval(evaldata, texts, 1, fold_case=True)
        print(
            f"{name}: held-out must_not_clean, 95 % interval over its sites: {low:.3f}-{high:.3f} "
            f"(case-folded {folded_low:.3f}-{folded_high:.3f})"
        )
    if "quarry" in per_page and "resiliparse" in per_page:
        added = [q - r for q, r in zip(per_page["quarry"], per_page["resiliparse"], strict=True)]
        print(
            f"\nprecision stage, paired per page (quarry - resiliparse): median {med(added):.2f} ms, "
            f"mean {sum(added) / len(added):.2f} ms"
        )
    if "trafilatura" in per_page and "quarry" in per_page:
        print(
            f"trafilatura / quarry median CPU per page: {med(per_page['trafilatura']) / med(per_page['quarry']):.1f}x"
        )
    if articles:
        print()
        _report_articles({a.key: a.body for a in articles}, extra["articles"])
    if wcxb:
        print()
        _report_wcxb(wcxb, extra["wcxb"], args.wcxb_split)


def _report_articles(truth: dict[str, str], texts: dict[str, dict[str, str]]) -> None:
    """Whole-article precision / recall / F1 per extractor, and Quarry's paired differences to the others."""
    from tasks.ingest.article_benchmark import paired_difference, score_articles

    rows = []
    for name, predicted in texts.items():
        score = score_articles(truth, predicted)
        rows.append([name, score.pages, f"{score.precision:.3f}", f"{score.recall:.3f}", f"{score.f1:.3f}"])
    print(
        table(
            "Whole-article ground truth (article-extraction-benchmark; word 4-gram shingles, never tuned on)",
            ["extractor", "pages", "precision", "recall", "F1"],
            rows,
        )
    )
    for other in (name for name in texts if name != "quarry"):
        diff = paired_difference(truth, texts["quarry"], texts[other])
        cells = ", ".join(f"{m} {d:+.3f} [{lo:+.3f}, {hi:+.3f}]" for m, (d, lo, hi) in diff.items())
        print(f"quarry - {other} (95 % paired page bootstrap): {cells}")


def _report_wcxb(pages: list[Any], texts: dict[str, dict[str, str]], split: str) -> None:
    """Pass share, must recall and must-not cleanliness per extractor and page type on a WCXB split."""
    from tasks.ingest.snippet_benchmark import score_snippets

    scores = {name: score_snippets(pages, predicted) for name, predicted in texts.items()}
    groups = ["all", *sorted({p.page_type for p in pages})]
    rows = [
        [
            group,
            name,
            score.pages,
            f"{score.pass_share:.3f}",
            f"{score.must_recall:.3f}",
            f"{score.must_not_clean:.3f}",
        ]
        for group in groups
        for name, by_group in scores.items()
        for score in [by_group[group]]
    ]
    held = (
        "held out: the chrome phrases were chosen on dev" if split == "test" else "phrases were chosen on it"
    )
    print(
        table(
            f"WCXB {split} split ({held}): must / must-not snippets per page type",
            ["page type", "extractor", "pages", "pass_share", "must_recall", "must_not_clean"],
            rows,
        )
    )


def _site_interval(
    evaldata: dict[str, dict[str, Any]], texts: dict[str, tuple[str, str | None]], half: int, fold_case: bool
) -> tuple[float, float]:
    """95 % interval of must_not_clean on one site half, resampling its sites (2,000 draws, seed 0): how far
    the score moves when the same extractor meets another draw of sites like these."""
    from tasks.ingest.evaluate import eval_key, score_texts, site, site_half

    per_site: dict[str, list[int]] = {}
    for url, info in evaldata.items():
        if site_half(eval_key(url)) != half:
            continue
        one = score_texts({url: info}, texts, fold_case=fold_case)
        total = sum(1 for s in info.get("without") or [] if s.strip())
        counts = per_site.setdefault(site(url), [0, 0])
        counts[0] += round(one.must_not_clean * total)
        counts[1] += total
    sites = list(per_site.values())
    rng = random.Random(0)
    draws = []
    for _ in range(2000):
        sample = rng.choices(sites, k=len(sites))
        draws.append(sum(c for c, _ in sample) / max(1, sum(t for _, t in sample)))
    draws.sort()
    return draws[49], draws[1949]


def _median_per_page(runs: list[dict[str, Any]], n: int) -> list[float]:
    """Per page, the median of its CPU ms over rounds (a round's outlier from a busy machine drops out)."""
    return [med([float(run["cpu_ms"][i]) for run in runs]) for i in range(n)]


if __name__ == "__main__":
    main()
