# The two commands of the README, and the checks CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Tools with dependencies of their own, kept out of the project's environment:
# openapi-python-client pins typer<0.28 (we pin 0.29.2). tests/api/test_openapi.py runs it.
TOOLS ?= .venv-tools
OPENAPI_CLIENT := openapi-python-client==0.29.1

.PHONY: run test lint typecheck check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

## Install callplane and serve it on its embedded defaults (SQLite, simulated line, demo org).
run: $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/callplane serve

$(TOOLS)/bin/openapi-python-client:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet '$(OPENAPI_CLIENT)'

## Install the test dependencies, then lint, type-check and run every test, measuring coverage
## (the run fails under the floor in pyproject.toml's [tool.coverage.report]).
test: $(BIN)/python $(TOOLS)/bin/openapi-python-client
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest --cov --cov-report=term:skip-covered

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .coverage
