"""datatrove 0.10.1's filters, each run separately on each text of a JSONL file (``{"id", "text"}`` lines).

Run by bench/bench_filters.py with .venv-bench-datatrove/bin/python. Writes one JSONL line per text:
``{"id", "verdicts": {filter: true | reason}, "n_words", "words_hash", "c4_text"}`` and prints one
BENCH_RESULT line with the CPU seconds spent in each filter. Filters use the FineWeb recipe's settings
(``C4QualityFilter(filter_no_terminal_punct=False)``), English word tokenizer (spaCy ``blank("en")``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import Region, emit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.utils.text import split_into_words

    filters = {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        "c4": C4QualityFilter(filter_no_terminal_punct=False),
        "fineweb": FineWebQualityFilter(),
    }
    rows = [json.loads(line) for line in Path(args.input).read_text(encoding="utf-8").splitlines() if line]
    seconds = dict.fromkeys(filters, 0.0)
    split_into_words("warm up the tokenizer.")
    with Region() as region, open(args.output, "w", encoding="utf-8") as out:
        for row in rows:
            verdicts: dict[str, object] = {}
            c4_text = None
            for name, flt in filters.items():
                doc = Document(text=row["text"], id=row["id"])
                t0 = time.process_time()
                result = flt.filter(doc)
                seconds[name] += time.process_time() - t0
                verdicts[name] = True if result is True else result[1]
                if name == "c4" and result is True:
                    c4_text = doc.text
            words = split_into_words(row["text"])
            digest = hashlib.blake2b("\x00".join(words).encode("utf-8", "surrogatepass"), digest_size=8)
            out.write(
                json.dumps(
                    {
                        "id": row["id"],
                        "verdicts": verdicts,
                        "n_words": len(words),
                        "words_hash": digest.hexdigest(),
                        "c4_text": c4_text,
                    }
                )
                + "\n"
            )
    emit({**region.as_dict(), "documents": len(rows), "filter_cpu_s": seconds})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
