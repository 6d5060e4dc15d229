# Quick start: `make demo` and `make test` on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
DEMO_OUT ?= demo-output

.PHONY: demo test lint bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(UV) pip install --python $(BIN)/python -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(UV) pip install --python $(BIN)/python -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/cloudfree demo --out $(DEMO_OUT)

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/python scripts/check_layers.py src
	$(BIN)/python -m pytest -n 2 -q tests

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/python scripts/check_layers.py src

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info src/*.egg-info .pytest_cache
