# Two commands on a fresh clone: `make run` (the embedded service) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint format bench clean help

help:
	@echo "make run    - start Temporal dev server, provider simulator, worker and API (Ctrl-C stops all)"
	@echo "make test   - run the whole test suite (PostgreSQL when DATABASE_URL is set, else SQLite)"
	@echo "make test-fast - the quick layer: every test not marked slow (~45 s on SQLite)"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - quick runs of the benchmarks and chaos scenarios (BENCHMARKS.md has the full commands)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing into $(VENV) ..."
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m devstack

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The quick layer: no dev server, stacks, chaos or benchmarks (tests marked slow; see pyproject.toml).
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

# Quick versions of the benchmarks; each starts its own isolated stack (BENCH_ARGS: e.g. --database-url ...).
bench: $(STAMP)
	$(PY) -m bench.cost_per_case
	$(PY) -m bench.throughput --cases 30 --concurrency 10 $(BENCH_ARGS)
	$(PY) -m bench.api_load --duration 10 --users 20 $(BENCH_ARGS)
	$(PY) -m bench.api_latency --duration 10 --warmup 2 $(BENCH_ARGS)
	$(PY) -m bench.open_cases --cases 1000 $(BENCH_ARGS)
	$(PY) -m bench.chaos --cases 8 $(BENCH_ARGS)
	$(PY) -m bench.webhooks chaos --cases 8 --kill-after 30 $(BENCH_ARGS)

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
