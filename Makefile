# Everything runs from the project's own virtual environment, made on first use.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# `make test` runs two pytest sessions side by side (pytest-xdist, a test file to each in turn, the
# longest first), each with its own Prefect server, worker, API processes and storage root: 9 min
# instead of 14.5 on two cores. `TEST_SESSIONS=1 make test` runs one, for a machine with one core.
TEST_SESSIONS ?= 2

.PHONY: run demo test test-fast lint bench clean

# uv installs what pip would, in 12 s instead of 50: CI builds this environment on every run.
# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (CI here), nothing else writes .pyc files, and
# every process the tests start (API, workers, flow runs, `aura`) would compile Prefect again.
$(BIN)/aura: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e ".[test]"
	@touch $@

run: $(BIN)/aura ## the service: Prefect, a worker and the API on http://127.0.0.1:8000
	$(BIN)/aura serve

demo: $(BIN)/aura ## make one video from the built-in sample brief, with a progress bar
	$(BIN)/aura generate --sample

test: $(BIN)/aura ## every test, the slow end-to-end ones included
	$(BIN)/pytest $(if $(filter-out 1,$(TEST_SESSIONS)),-n $(TEST_SESSIONS) --dist loadfile --no-loadscope-reorder)

test-fast: $(BIN)/aura ## the unit tests only: no Prefect server, no FFmpeg
	$(BIN)/pytest -m "not slow"

# lint-imports --no-cache: grimp's cache keeps each module's imports by file time, so after a folder
# gains an __init__.py it would judge the contracts on stale edges; the whole graph takes under a second.
lint: $(BIN)/aura ## the import rules (import-linter), ruff's lint and format check, and mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/aura ## print pipeline, service, event and ETA figures (see bench/README.md)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/service.py
	$(BIN)/python bench/events.py latency
	$(BIN)/python bench/events.py eta

clean:
	rm -rf .aura test-artifacts bench/out
