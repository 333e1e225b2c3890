#!/usr/bin/env bash
# The test command: lint, types, then the whole suite (tests start the real services they need).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" QUARRY_PROGRESS=0
ruff check tasks dags plugins tests bench infra
mypy
# `heavy` tests (half an hour of CPU inference on a 2-core machine) run with `make test-heavy` or on a GPU rater
python -m pytest -q -p no:cacheprovider --durations=30 -m "not heavy" "$@"
