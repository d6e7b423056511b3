# Friction — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-output
BENCH_SCALE ?= 1.0
MODEL ?= $(DEMO_DIR)/model

.DEFAULT_GOAL := help
.PHONY: help setup chromium demo test bench lint format serve lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: $(STAMP) ## Create .venv and install the project and dev tools from requirements.lock (no-op when up to date)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

demo: setup ## Run the main job end to end on embedded defaults
	$(VENV)/bin/friction demo --out $(DEMO_DIR)

test: setup chromium ## Run the test suite
	$(PY) -m pytest

chromium: ## Install Debian's chromium (the report's tests open it headless) when missing
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y --no-install-recommends chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y --no-install-recommends chromium; fi; }

bench: setup ## Run the benchmarks (BENCH_SCALE=0.1 for a quick run); writes bench-results/
	$(PY) tests/benchmarks/run.py --scale $(BENCH_SCALE) --out bench-results

lint: setup ## ruff (lint and format check) and mypy strict on the packages
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

serve: setup ## Serve the risk API (MODEL=path or models:/NAME@champion; keys in FRICTION_API_KEYS, or SERVE_ARGS=--no-auth)
	$(VENV)/bin/friction serve --model $(MODEL) $(SERVE_ARGS)

lock: ## Re-resolve requirements.lock from pyproject.toml (needs the registry)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade "pip>=24" && .lock-venv/bin/pip install --quiet ".[dev]"
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^friction' > requirements.lock
	rm -rf .lock-venv

clean: ## Remove the virtualenv, outputs and caches
	rm -rf $(VENV) $(DEMO_DIR) bench-results .mypy_cache .ruff_cache build *.egg-info
