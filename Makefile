# One way to run things: people, CI and the docs all use these targets.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help venv constraints wheel sysdeps testhosts test test-fast lint typecheck demo bench chaos clean

help:
	@echo "make demo   - the whole failover story on loopback (installs what it needs; ADDRESSES=a,b,c NETNS=1)"
	@echo "make wheel  - dist/hostgate-*.whl, with the samples and demo hosts (pipx install it, then hostgate demo)"
	@echo "make test   - lint, type check and the full test suite (installs what it needs)"
	@echo "make bench  - benchmarks, each next to a baseline measured in the same run"
	@echo "make chaos  - the long nemesis run: make chaos TRIALS=100 SEED=42 (kill -9, SIGSTOP, partitions)"

# pyproject.toml holds compatible ranges; constraints.txt the exact versions everything is tested with.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "hostgate needs Python >= 3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Resolve the ranges of pyproject.toml anew in a scratch venv and pin the result (review the diff, then commit).
constraints:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	{ sed -n '/^#/p' constraints.txt; .venv-lock/bin/python -m pip freeze --all --exclude-editable --exclude pip; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .venv-lock

# A wheel (dist/hostgate-*.whl) that carries the samples, the model schema and the demo hosts:
# `pipx install dist/hostgate-*.whl && hostgate demo` then needs no source checkout.
wheel: venv
	$(PY) -m pip wheel -q --disable-pip-version-check --no-deps --no-build-isolation -w dist .

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

# ADDRESSES: the three members' loopback addresses (default 127.0.0.1-3), e.g. ADDRESSES=127.0.0.21,127.0.0.22,127.0.0.23;
# NETNS=1 (as root): run the whole demo in a private network namespace, clear of every other 127.0.0.x server.
ADDRESSES ?=
NETNS ?=
demo: venv sysdeps
	$(PY) -m hostgate.cli.main demo $(if $(ADDRESSES),--addresses $(ADDRESSES)) $(if $(NETNS),--netns)

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
	rm -rf $(VENV) .mypy_cache .ruff_cache build dist src/*.egg-info
