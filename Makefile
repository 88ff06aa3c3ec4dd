# The two commands a newcomer runs: `make demo` and `make test`.
# Each creates/refreshes the local virtual environment in .venv and installs what it needs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[data,vision,test]"
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/zili demo

test: $(VENV)/.test-installed
	$(BIN)/ruff check zili tests bench
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(VENV)/.test-installed
	$(BIN)/ruff check zili tests bench

bench: $(VENV)/.test-installed
	$(BIN)/python bench/train_gpt.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
