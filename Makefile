# Two commands: `make run` serves on http://127.0.0.1:8080, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "counter needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/counter serve

lint: $(VENV)/.installed-test
	$(BIN)/ruff check counter tests benchmarks
	$(BIN)/ruff format --check counter tests benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy --strict counter tests
	$(BIN)/mypy --strict benchmarks

pytest: $(VENV)/.installed-test
	$(BIN)/pytest

test: lint typecheck pytest

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[bench]'
	@touch $@ $(VENV)/.installed

# The benchmark suite (docs/performance.md): results in benchmarks/results/<date>-<host>.*
bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
