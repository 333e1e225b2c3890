"""Filter fidelity: Quarry's filters and datatrove 0.10.1's on the same English texts, in one run.

    bash bench/setup_peers.sh
    .venv/bin/python bench/bench_filters.py [--limit N] [--show 10]

Texts: what Quarry's extractor (``tasks.ingest.extract``) makes of the trafilatura evaluation pages, the Debian
Reference and PostgreSQL documentation pages and Common Crawl WARC captures in ``../shared/data``, plus the
WikiText-2 articles and the C4/Dolma JSONL documents there; kept when lid.176's top label is English
(``--min-language-score`` to require a score; FineWeb's filters see en > 0.65). Each filter runs separately on identical text on both sides (datatrove in
its own venv, as a subprocess): Gopher quality, Gopher repetition, C4 (``filter_no_terminal_punct=False``, as
in FineWeb) and FineWeb quality with the FineWeb recipe's settings. Printed: per-filter agreement on keep/drop
and on the reason, the word-split agreement (identical spaCy token lists), C4's rewritten text agreement,
CPU time per document on each side, and the disagreements.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (
    BENCH,
    DATATROVE_PYTHON,
    default_shared,
    machine_line,
    peer_available,
    peer_env,
    run_measured,
    table,
)

FILTERS = ("gopher_quality", "gopher_repetition", "c4", "fineweb")


def _html_texts(shared: Path, limit_docs: int) -> Iterator[tuple[str, str, str]]:
    """(id, source, text) from HTML pages, through Quarry's extractor."""
    from tasks.ingest.config import ExtractSettings
    from tasks.ingest.extract import ExtractionError, check_textual, html_to_text
    from tasks.ingest.sample_snapshot import load_eval_pages

    cfg = ExtractSettings().build()

    def extract(html: bytes) -> str | None:
        try:
            return html_to_text(html, None, cfg)
        except ExtractionError:
            return None

    for page in load_eval_pages(shared):
        text = extract(page.html)
        if text:
            yield f"web:{page.url}", "web", text
    for tarball, source in (
        ("eval/debian-docs/debian-reference-6lang-html.tar.xz", "docs-debian"),
        ("eval/debian-docs/postgresql-doc-15-html.tar.xz", "docs-postgresql"),
    ):
        path = shared / tarball
        if not path.is_file():
            continue
        n = 0
        with tarfile.open(path, "r:xz") as tar:
            for member in tar:
                name = member.name
                if not member.isfile() or not name.endswith(".html") or n >= limit_docs:
                    continue
                if source == "docs-debian" and not name.endswith(".en.html"):
                    continue
                fh = tar.extractfile(member)
                text = extract(fh.read()) if fh else None
                if text:
                    n += 1
                    yield f"{source}:{name}", source, text
    from tasks.ingest.records import Record, read_file

    warcs = [
        *(shared / "crawl" / "commoncrawl").rglob("*.warc.gz"),
        *(shared / "crawl" / "webarchives").rglob("*.warc.gz"),
    ]
    for warc in sorted(warcs):
        for item in read_file(str(warc), "warc"):
            if isinstance(item, Record) and item.payload and item.source == "warc":
                try:
                    check_textual(item.payload, item.content_type)
                except ExtractionError:
                    continue
                text = extract(item.payload)
                if text:
                    yield f"cc:{warc.name}:{item.offset}", "web-cc", text


def _plain_texts(shared: Path) -> Iterator[tuple[str, str, str]]:
    import re

    parts: list[str] = []
    for split in ("valid", "test"):
        raw = (shared / "eval" / "wikitext-2" / f"wiki.{split}.txt").read_text(encoding="utf-8")
        found = re.split(r"^ = ([^=].*?) = $", raw, flags=re.M)
        parts.extend(x for pair in zip(found[1::2], found[2::2], strict=False) for x in pair)
    for k, (title, body) in enumerate(zip(parts[0::2], parts[1::2], strict=False)):
        paras = [
            p.strip().replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
            for p in body.split("\n")
            if p.strip() and not p.strip().startswith("=")
        ]
        if paras:
            yield f"wikitext:{k}:{title.strip()}", "wikitext", "\n".join(paras)
    for path in sorted((shared / "crawl" / "cc-derived-jsonl").rglob("*.json*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                try:
                    text = json.loads(line).get("text")
                except json.JSONDecodeError:
                    continue
                if isinstance(text, str) and text.strip():
                    yield f"jsonl:{path.name}:{i}", "cc-jsonl", text


def collect(shared: Path, out: Path, limit: int, docs_per_set: int, args_min_score: float) -> Counter[str]:
    """Write the English texts (lid.176 top label en, score >= ``args_min_score``) as JSONL; return the count
    per source."""
    from tasks.ingest.langid import identify

    counts: Counter[str] = Counter()
    seen: set[str] = set()
    with out.open("w", encoding="utf-8") as fh:
        for doc_id, source, text in _chain(_html_texts(shared, docs_per_set), _plain_texts(shared)):
            if sum(counts.values()) >= limit:
                break
            digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
            if digest in seen:
                continue
            language, score = identify(text)
            if language != "en" or score < args_min_score:
                continue
            seen.add(digest)
            counts[source] += 1
            fh.write(json.dumps({"id": doc_id, "source": source, "text": text}) + "\n")
    return counts


def _chain(*its: Iterator[tuple[str, str, str]]) -> Iterator[tuple[str, str, str]]:
    for it in its:
        yield from it


def run_quarry(rows: list[dict[str, str]]) -> tuple[list[dict[str, object]], dict[str, float]]:
    from tasks.ingest.filters import TextView
    from tasks.ingest.recipes import get_recipe

    recipe = get_recipe("fineweb")
    filters = {f.name: f for f in recipe.filters_for("en")}
    c4 = filters["c4"]
    seconds = dict.fromkeys(FILTERS, 0.0)
    out = []
    for row in rows:
        view = TextView(row["text"], "en")
        verdicts: dict[str, object] = {}
        c4_text = None
        for name in FILTERS:
            t0 = time.process_time()
            if name == "c4":
                reason, c4_text = c4.rewrite(view)
            else:
                reason = filters[name].check(view)
            seconds[name] += time.process_time() - t0
            verdicts[name] = True if reason is None else reason.split(":", 1)[1]
        words = view.words
        digest = hashlib.blake2b("\x00".join(words).encode("utf-8", "surrogatepass"), digest_size=8)
        out.append(
            {
                "id": row["id"],
                "verdicts": verdicts,
                "n_words": len(words),
                "words_hash": digest.hexdigest(),
                "c4_text": c4_text if verdicts["c4"] is True else None,
            }
        )
    return out, seconds


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared-data", type=Path, default=default_shared())
    parser.add_argument("--limit", type=int, default=2000, help="at most this many English texts")
    parser.add_argument("--docs-per-set", type=int, default=400, help="pages per documentation tarball")
    parser.add_argument(
        "--min-language-score", type=float, default=0.0, help="keep texts lid.176 calls English at this score"
    )
    parser.add_argument("--workdir", type=Path, help="keep the texts and results here (default: temporary)")
    parser.add_argument("--show", type=int, default=8, help="disagreements printed per filter")
    args = parser.parse_args()

    ok, why = peer_available()
    if not ok:
        raise SystemExit(why)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-filters-"))
    work.mkdir(parents=True, exist_ok=True)
    texts = work / "texts.jsonl"
    if not texts.is_file():
        counts = collect(args.shared_data, texts, args.limit, args.docs_per_set, args.min_language_score)
    else:
        counts = Counter(
            json.loads(line)["source"] for line in texts.read_text(encoding="utf-8").splitlines()
        )
    rows = [json.loads(line) for line in texts.read_text(encoding="utf-8").splitlines() if line]

    peer_out = work / "datatrove.jsonl"
    peer = run_measured(
        "datatrove-filters",
        [
            str(DATATROVE_PYTHON),
            str(BENCH / "peers" / "datatrove_filters.py"),
            "--input",
            str(texts),
            "--output",
            str(peer_out),
        ],
        env=peer_env(),
    )
    theirs = {r["id"]: r for r in map(json.loads, peer_out.read_text(encoding="utf-8").splitlines())}
    ours, our_seconds = run_quarry(rows)
    source_of = {r["id"]: r["source"] for r in rows}
    text_of = {r["id"]: r["text"] for r in rows}

    print(machine_line())
    print(
        f"texts: {len(rows):,} English (lid.176 top label en): "
        + ", ".join(f"{k} {v}" for k, v in counts.most_common())
    )
    print()
    table_rows = []
    disagreements: dict[str, list[tuple[str, object, object]]] = {f: [] for f in FILTERS}
    for name in FILTERS:
        same_verdict = same_reason = q_drop = d_drop = 0
        for mine in ours:
            other = theirs[mine["id"]]
            a, b = mine["verdicts"][name], other["verdicts"][name]
            q_drop += a is not True
            d_drop += b is not True
            if (a is True) == (b is True):
                same_verdict += 1
            if a == b:
                same_reason += 1
            else:
                disagreements[name].append((mine["id"], a, b))
        n = len(ours)
        table_rows.append(
            [
                name,
                n,
                q_drop,
                d_drop,
                f"{100 * same_verdict / n:.2f} %",
                f"{100 * same_reason / n:.2f} %",
                f"{1000 * our_seconds[name] / n:.3f}",
                f"{1000 * peer.result['filter_cpu_s'][name] / n:.3f}",
            ]
        )
    print(
        table(
            "Quarry vs datatrove 0.10.1 filters, each on identical text",
            [
                "filter",
                "texts",
                "Quarry drops",
                "datatrove drops",
                "agree keep/drop",
                "agree reason",
                "Quarry ms/doc (CPU)",
                "datatrove ms/doc (CPU)",
            ],
            table_rows,
        )
    )
    same_words = sum(m["words_hash"] == theirs[m["id"]]["words_hash"] for m in ours)
    same_count = sum(m["n_words"] == theirs[m["id"]]["n_words"] for m in ours)
    both_c4 = [m for m in ours if m["c4_text"] is not None and theirs[m["id"]]["c4_text"] is not None]
    same_c4 = sum(m["c4_text"] == theirs[m["id"]]["c4_text"] for m in both_c4)
    print()
    print(
        table(
            "Word split and C4 line removal",
            ["check", "agree", "of", "share"],
            [
                [
                    "identical word lists (spaCy en tokens)",
                    same_words,
                    len(ours),
                    f"{100 * same_words / len(ours):.2f} %",
                ],
                ["same word count", same_count, len(ours), f"{100 * same_count / len(ours):.2f} %"],
                [
                    "identical C4-rewritten text (both keep)",
                    same_c4,
                    len(both_c4),
                    f"{100 * same_c4 / max(1, len(both_c4)):.2f} %",
                ],
            ],
        )
    )
    by_source: dict[str, Counter[str]] = {}
    for name in FILTERS:
        for doc_id, _, _ in disagreements[name]:
            by_source.setdefault(name, Counter())[source_of[doc_id]] += 1
    print()
    print("### Disagreements (Quarry verdict vs datatrove verdict)")
    for name in FILTERS:
        items = disagreements[name]
        print(
            f"\n{name}: {len(items)} ({', '.join(f'{k} {v}' for k, v in by_source.get(name, Counter()).most_common())})"
        )
        for doc_id, a, b in items[: args.show]:
            head = " ".join(text_of[doc_id][:100].split())
            print(f"  - {doc_id[:70]}: quarry={a} datatrove={b} | {head!r}")
    (work / "quarry.jsonl").write_text("\n".join(json.dumps(r) for r in ours) + "\n", encoding="utf-8")
    print(f"\n(texts and both sides' verdicts in {work})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
