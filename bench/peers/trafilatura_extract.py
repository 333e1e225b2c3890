"""Peer child of bench/bench_extract.py (runs in .venv-bench-datatrove): Trafilatura on the evaluation pages.

Called exactly as datatrove's ``Trafilatura`` extractor calls it (FineWeb's recipe): ``extract(html,
favor_precision=True, include_comments=False, deduplicate=True)``. Reads ``pages.json`` (key → UTF-8 HTML) and
writes ``{"texts": {key: text}, "cpu_ms": [...]}`` to ``--out``; prints the BENCH_RESULT line.
"""

from __future__ import annotations

import argparse
import json
import time

from common import Region, emit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    from trafilatura import extract

    with open(args.pages, encoding="utf-8") as fh:
        pages: dict[str, str] = json.load(fh)
    extract("<html><body><p>warm up</p></body></html>")
    texts: dict[str, str] = {}
    cpu_ms: list[float] = []
    with Region() as region:
        for key, html in pages.items():
            start = time.process_time()
            text = extract(html, favor_precision=True, include_comments=False, deduplicate=True)
            cpu_ms.append((time.process_time() - start) * 1000)
            texts[key] = text or ""
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump({"texts": texts, "cpu_ms": cpu_ms}, fh)
    emit({**region.as_dict(), "pages": len(texts)})


if __name__ == "__main__":
    main()
