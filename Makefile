# The one entry point. `make demo` and `make test` set up everything they need themselves.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# This machine's pip config names local wheel folders that may be absent: hide only that noise.
PIP_QUIET := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
# The tests run on the Python the function runs on: infra/constants.py's PYTHON_VERSION.
PYTHON_VERSION := $(shell sed -n 's/^PYTHON_VERSION: Final = "\([0-9.]*\)"$$/\1/p' infra/constants.py)
PYENV_ROOT ?= $(HOME)/.pyenv
# PYTHON=/path/to/python3.13 overrides; else python3.13 on PATH, else a pyenv install of it.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach candidate,python$(PYTHON_VERSION) \
	$(wildcard $(PYENV_ROOT)/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION)),\
	$(shell $(candidate) -c '' >/dev/null 2>&1 && echo $(candidate))))
endif
VENV := .venv
BIN := $(VENV)/bin
# Extra options for the CDK CLI, e.g. make deploy CDK_ARGS="--profile prod".
CDK_ARGS ?=
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: all help setup demo test lint typecheck pytest bench org-publish synth diff deploy destroy clean

all: test ## the default: same as test

help: ## this list
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# The venv on Python $(PYTHON_VERSION); a new PYTHON_VERSION names a new stamp: a new venv.
$(BIN)/.python-$(PYTHON_VERSION):
	@test -n "$(PYTHON)" || { echo "make: Python $(PYTHON_VERSION) not found (the function's \
	runtime, infra/constants.py; the tests run on it): install it (pyenv install \
	$(PYTHON_VERSION), your package manager, python.org) or pass PYTHON=/path/to/python$(PYTHON_VERSION)" >&2; exit 1; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	touch $@

# Dependencies are installed again when a requirements file or pyproject.toml changes.
$(BIN)/.installed: $(BIN)/.python-$(PYTHON_VERSION) requirements.txt requirements-dev.txt pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt $(PIP_QUIET)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . $(PIP_QUIET)
	touch $@

# The CDK CLI, pinned in package-lock.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(BIN)/.installed node_modules/.installed ## the venv (on the function's Python) and the CDK CLI

demo: $(BIN)/.installed ## the whole job end to end on a local stack (about a minute)
	$(BIN)/python -m reaper_local.demo

lint: $(BIN)/.installed ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed ## mypy --strict
	$(BIN)/mypy lambda/reaper local/ccapi_emulator local/reaper_local cli/reaper_cli infra app.py

pytest: setup ## every test, two workers
	$(BIN)/pytest -n 2 --dist loadgroup

test: setup lint typecheck pytest ## lint, typecheck and pytest (what .ci/run runs)

bench: $(BIN)/.installed ## the benchmarks (bench/results/), then docs/performance.md's table
	$(BIN)/python -m bench.run_all
	$(BIN)/python -m bench.goals

org-publish: $(BIN)/.installed ## organization mode: upload the member's code zip to every Region's code bucket
	$(BIN)/python -m infra.org.publish

# cdk.json runs `python3 app.py`, as a CDK user's activated venv would: the venv comes first.
synth diff deploy destroy: export PATH := $(abspath $(BIN)):$(PATH)

synth: setup ## the CloudFormation template, in cdk.out (offline)
	npx cdk synth --quiet --no-notices $(CDK_ARGS)

diff: setup ## what deploy would change (AWS credentials needed)
	npx cdk diff --no-notices $(CDK_ARGS)

deploy: setup ## deploy every configured stack (AWS credentials needed)
	npx cdk deploy --all --no-notices $(CDK_ARGS)

destroy: setup ## delete every configured stack (asks first; AWS credentials needed)
	npx cdk destroy --all --no-notices $(CDK_ARGS)

clean: ## remove the venv, node_modules and caches
	rm -rf $(VENV) node_modules cdk.out .mypy_cache .ruff_cache .pytest_cache
