# One way to run things: people, CI and the docs all use these targets.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help venv sysdeps testhosts test test-fast lint typecheck demo bench clean

help:
	@echo "make demo   - the whole failover story on loopback (installs what it needs)"
	@echo "make test   - lint, type check and the full test suite (installs what it needs)"
	@echo "make bench  - benchmarks, each next to a baseline measured in the same run"

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "hostgate needs Python >= 3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

sysdeps:
	@bash scripts/install-system-deps.sh

# The mock 3270/5250 hosts (mainframe-mocker) need Python >= 3.12: they get a venv of their own.
testhosts:
	@bash scripts/install-test-hosts.sh

lint: venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: venv
	$(VENV)/bin/mypy

test: venv sysdeps testhosts lint typecheck
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: venv
	$(PY) -m pytest -q -x -m "not slow"

demo: venv sysdeps
	$(PY) -m hostgate.cli.main demo

bench: venv sysdeps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build src/*.egg-info
