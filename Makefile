# One way to run things: people, CI and the docs all use these targets.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help venv sysdeps testhosts test test-fast lint typecheck demo bench chaos clean

help:
	@echo "make demo   - the whole failover story on loopback (installs what it needs)"
	@echo "make test   - lint, type check and the full test suite (installs what it needs)"
	@echo "make bench  - benchmarks, each next to a baseline measured in the same run"
	@echo "make chaos  - the long nemesis run: make chaos TRIALS=100 SEED=42 (kill -9, SIGSTOP, partitions)"

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

# The suite on TEST_WORKERS pytest-xdist workers (0: in this process), each taking a whole test module at a time
# (--dist loadfile), so a module's shared lab is started once; session-wide fixtures start once per worker.
TEST_WORKERS ?= 2
test: venv sysdeps testhosts lint typecheck
	$(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

test-fast: venv
	$(PY) -m pytest -q -x -m "not slow"

demo: venv sysdeps
	$(PY) -m hostgate.cli.main demo

bench: venv sysdeps
	$(PY) bench/run_all.py

# The nemesis suite's long run (tests/chaos/): TRIALS trials from SEED (random and printed when empty),
# then the HTTP faces' fuzzing with FUZZ examples per face (make test runs 150).
# Partitions need root for network namespaces; without them they are skipped with the reason.
TRIALS ?= 100
SEED   ?=
FUZZ   ?= 2000
chaos: venv sysdeps testhosts
	$(PY) -m tests.chaos.run --trials $(TRIALS) $(if $(SEED),--seed $(SEED))
	HOSTGATE_FUZZ_EXAMPLES=$(FUZZ) $(PY) -m pytest -q -p no:cacheprovider tests/fuzz

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache build src/*.egg-info
