# Everything bootstraps .venv itself: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Set to postgresql+asyncpg://postgres@127.0.0.1:5432/test to run the suite on PostgreSQL
# (each run creates, and drops, a database of its own).
LADDNAT_TEST_DATABASE_URL ?=
export LADDNAT_TEST_DATABASE_URL

.PHONY: run test lint fmt bench openapi clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/laddnat run

lint: $(STAMP)
	$(VENV)/bin/ruff check app ocpp_bridge payments devtools migrations tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix app ocpp_bridge payments devtools migrations tests bench

# The benchmark: a real bridge process under raw WebSocket load; prints a markdown table
# (~9 min on 2 cores, the health phase included). `make bench BENCH_ARGS=--quick` for a small run.
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

openapi: $(STAMP)
	$(VENV)/bin/laddnat openapi

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
