# Everything bootstraps .venv itself: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Set to postgresql+asyncpg://postgres@127.0.0.1:5432/test to run the suite on PostgreSQL
# (each run creates, and drops, a database of its own).
LADDNAT_TEST_DATABASE_URL ?=
export LADDNAT_TEST_DATABASE_URL
# Bytecode is cached even where the environment says not to (CI's does): without it every
# Python process compiled the project again, each test worker's collection took 22 s
# instead of 9 on 2 cores, and each `laddnat` child a test starts paid it too.
export PYTHONDONTWRITEBYTECODE =

# The suite runs on pytest-xdist workers, each module whole on one worker (its fixtures are
# module-scoped: --dist in pyproject.toml), longest first (tests/conftest.py sorts them).
# The e2e tests often wait on sockets and child processes: on 2 cores 4 workers were as
# fast as 2 on a quiet machine and faster than 3 or 6 on a busy one (~2.5 min on SQLite).
PYTEST_WORKERS ?= 4
PYTEST_ARGS ?=
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)
# The slow groups (markers applied in tests/conftest.py) that `make test-fast` leaves out.
SLOW_MARKERS := browser or subprocess or bench

.PHONY: run test test-suite test-fast lint fmt bench openapi screenshots clean

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

# Everything: lint, then the whole suite.
test: lint
	$(PYTEST)

# The whole suite without lint (.ci/run lints once, then runs the suite on each database).
test-suite: $(STAMP)
	$(PYTEST)

# The developer's loop: everything but the browser, subprocess and bench tests, no lint.
test-fast: $(STAMP)
	$(PYTEST) -m "not ($(SLOW_MARKERS))"

# The console's pictures in docs/console/, taken by its browser tests (so they stay true).
screenshots: $(STAMP)
	LADDNAT_CONSOLE_SCREENSHOTS=1 $(PY) -m pytest -n 0 -q tests/e2e/console

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix app ocpp_bridge payments devtools migrations tests bench

# The benchmark: a real bridge process under raw WebSocket load; prints a markdown table
# (~20 min on 2 cores, the health and scale-out phases included).
# `make bench BENCH_ARGS=--quick` for a small run.
BENCH_ARGS ?=
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

openapi: $(STAMP)
	$(VENV)/bin/laddnat openapi

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
