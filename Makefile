# The one entry point. `make demo` and `make test` set up everything they need themselves.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# This machine's pip config names local wheel folders that may be absent: hide only that noise.
PIP_QUIET := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all setup demo test lint typecheck pytest bench synth clean

all: test

# The virtual environment is rebuilt when a requirements file or pyproject.toml changes.
$(BIN)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt $(PIP_QUIET)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . $(PIP_QUIET)
	touch $@

# The CDK CLI, pinned in package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(BIN)/.installed node_modules/.installed

demo: $(BIN)/.installed
	$(BIN)/python -m reaper_local.demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy lambda/reaper local/ccapi_emulator local/reaper_local cli/reaper_cli infra app.py

pytest: setup
	$(BIN)/pytest -n 2 --dist loadgroup

test: setup lint typecheck pytest

bench: $(BIN)/.installed
	$(BIN)/python -m bench.run_all

synth: setup
	npx cdk synth --quiet --no-notices

clean:
	rm -rf $(VENV) node_modules cdk.out .mypy_cache .ruff_cache .pytest_cache
