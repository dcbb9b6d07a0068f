# Everyday commands; the README lists them. PYTHON must be a Python 3.13 (the Lambda runtime).
PYTHON ?= python3.13
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test unit integration lint format check

setup:  ## virtual environment with the runtime and development dependencies
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt

test:  ## the whole suite: unit, integration, end-to-end
	$(BIN)/pytest

unit:
	$(BIN)/pytest tests/unit

integration:
	$(BIN)/pytest tests/integration

lint:  ## ruff, mypy (strict) and cfn-lint on the template
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/shared functions local tests
	$(BIN)/cfn-lint template.yaml

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: lint test
