# Two commands on a fresh machine: `make serve` (the dashboard) and `make test` (the whole suite).
# Both create .venv on first use, installing the pinned CPU build of torch before anything else:
# an unpinned torch would pull a multi-GB CUDA build.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 5006
# The dashboard listens on this machine only unless asked: ADDRESS=0.0.0.0 (and ORIGINS=host:port ...) to share it.
ADDRESS ?= 127.0.0.1
ORIGINS ?= localhost:$(PORT) 127.0.0.1:$(PORT)
MODEL ?=
MODEL_ARGS := $(if $(MODEL),--args $(foreach m,$(MODEL),--model $(m)),)

RUN ?= runs/examples
SQUAD_RUN ?= runs/squad-dev
DATASET_MODEL := $(or $(firstword $(MODEL)),distilbert/distilbert-base-cased-distilled-squad)
SERVE := $(BIN)/panel serve dashboard/app.py --port $(PORT) --address $(ADDRESS) \
	$(foreach origin,$(ORIGINS),--allow-websocket-origin=$(origin))

.PHONY: setup serve dataset-examples dataset-squad test load-test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

serve: $(STAMP)
	$(SERVE) $(MODEL_ARGS)

# A dataset run over the bundled examples, then the dashboard with its Dataset page (a rerun resumes: seconds).
dataset-examples: $(STAMP)
	$(BIN)/python -m core dataset run data/examples.json --model $(DATASET_MODEL) --out $(RUN)
	$(SERVE) --args --run $(RUN) --model $(DATASET_MODEL)

# The same over the official SQuAD v1.1 dev set (10,570 questions), fetched once into ~/.cache/qa-lens/squad.
dataset-squad: $(STAMP)
	$(BIN)/python scripts/fetch_squad.py
	$(BIN)/python -m core dataset run $(HOME)/.cache/qa-lens/squad/dev-v1.1.json --model $(DATASET_MODEL) --out $(SQUAD_RUN)
	$(SERVE) --args --run $(SQUAD_RUN) --model $(DATASET_MODEL)

test: $(STAMP)
	bash scripts/ensure_chromium.sh
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# Not in `make test` (minutes): N browser sessions at once on one server, then its memory after they close.
# SESSIONS=N changes N (default 10); the figures it prints are in the README ("Memory under load").
SESSIONS ?= 10
load-test: $(STAMP)
	bash scripts/ensure_chromium.sh
	QA_LENS_LOAD_SESSIONS=$(SESSIONS) $(BIN)/python -m pytest -m load tests/load

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/bench_core.py
	$(BIN)/python bench/bench_faithfulness.py

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache
