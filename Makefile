# usagelens — two commands do everything: `make run` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEMO_EVENTS ?= 200000

.PHONY: setup run test lint bench bench-quick fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

PORT ?= 8000

## Set up, load the demo workload into the store if it is empty, then serve it (Ctrl-C stops).
run: setup
	$(BIN)/usagelens demo --if-empty --events $(DEMO_EVENTS) --days 120
	$(BIN)/usagelens usage --team team_7_0
	$(BIN)/usagelens serve --port $(PORT) --demo-key .usagelens-demo-key.json

## Set up and run the whole suite (lint and type check included).
test: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## The fuzz and property tests with many examples (the suite runs a quick profile; ~45 minutes at 2000).
FUZZ_EXAMPLES ?= 2000
fuzz: setup
	USAGELENS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/test_ingest_fuzz.py tests/test_ingest_stream.py tests/test_input_fuzz_get.py tests/test_http_schema.py tests/test_http_schema_writes.py tests/fuzz_arrow_reader.py tests/ledger tests/test_usage_ceiling.py

## Run the benchmarks and write docs/benchmarks.md (several minutes).
bench: setup
	$(BIN)/python -m bench

## The same benchmarks on CI-sized stores (1M events; a few minutes), kept beside the full run.
bench-quick: setup
	USAGELENS_BENCH_QUICK=1 $(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache bench/.data
