# Two commands for a newcomer: `make run` and `make test` (`make test-all` for every tier).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
export SETTLE_ADMIN_TOKEN ?= dev-admin-token-change-me
#: The password of make run's sample desk users (development only; printed on the banner).
DESK_PASSWORD ?= desk-sample-password

# The locks pin every package, with hashes, at the versions CI tested (`make lock` rewrites them).
LOCK       := requirements/runtime.txt
TEST_LOCK  := requirements/test.txt
#: What builds the project (setuptools), hash-locked too: the project is built without pip's
#: isolated build environment, which would fetch setuptools unchecked.
BUILD_LOCK := requirements/build.txt
PIP       := $(BIN)/python -m pip --disable-pip-version-check
#: Extra pytest options, e.g. `make test PYTEST_ARGS='-x -k claims'`.
PYTEST_ARGS ?=
#: pytest-xdist workers of the fast tier: one per core (`PYTEST_WORKERS=0`: in this process).
PYTEST_WORKERS ?= auto

.PHONY: run test test-all lint typecheck pytest pytest-all lock openapi bench clean browser ha-tools messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The project itself goes in without dependencies: they all come from the lock, hash-checked.
$(VENV)/.installed: $(LOCK) $(BUILD_LOCK) pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r $(LOCK) -r $(BUILD_LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: $(TEST_LOCK) $(BUILD_LOCK) pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r $(TEST_LOCK) -r $(BUILD_LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/python -m app migrate
	$(BIN)/python -m app load-sample
	printf '%s\n' '$(DESK_PASSWORD)' | $(BIN)/python -m app sample-users --password-stdin
	$(BIN)/python -m app serve --host $(HOST) --port $(PORT) --banner --desk-password '$(DESK_PASSWORD)'

lint: $(VENV)/.installed-test
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# The fast tier: unit and contract tests on SQLite and PostgreSQL (PostgreSQL's are skipped when
# it is down, unless SETTLE_TEST_REQUIRE_POSTGRES=1), one worker per core.  No browser, no server
# processes.
pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not slow" -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Both tiers, the fast one first with the coverage of app/; the slow one in one process, as its
# load and crash tests use every core themselves, and untraced: tracing the process that drives
# their load slowed its clients about fourfold (the fault test's worst latency 1.0 s -> 4.7 s),
# and those latencies are what they check.  Their servers run in subprocesses, untraced anyway.
# Then the stress and fault tests again, the service reaching PostgreSQL through PgBouncer in
# transaction mode (make ha-tools installs it).
pytest-all: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not slow" -n $(PYTEST_WORKERS) --cov=app --cov-report=term:skip-covered $(PYTEST_ARGS)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)
	SETTLE_TEST_PGBOUNCER=1 $(BIN)/python -m pytest -m slow $(PYTEST_ARGS) \
	  tests/stress/test_stress.py::test_stress_postgresql tests/faults/test_postgres_faults.py

test: lint typecheck pytest

test-all: lint typecheck browser ha-tools pytest-all

# The desk's browser tests (slow tier) drive Debian's chromium and need a CJK font for the
# pages' Chinese.  Installed only when missing; without root the tests say so and skip (and
# fail in CI, where CI=true).  Never run by `make test`.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; \
	  else echo "chromium is missing and this is not root: the browser tests will be skipped" >&2; fi; \
	fi

# The failover test (slow tier) runs a pg_auto_failover formation and PgBouncer: installed by
# deploy/ha/install.sh (Debian packages) when missing and this is root.  Never run by `make test`.
ha-tools:
	@if [ "$$(id -u)" = 0 ]; then bash deploy/ha/install.sh; \
	elif ! command -v pg_autoctl >/dev/null; then \
	  echo "pg_autoctl is missing and this is not root: the failover test will be skipped" >&2; fi

# Rewrites both locks from pyproject.toml, keeping every pin that still satisfies it.  Upgrade
# with `make lock LOCK_ARGS=--upgrade` (all) or `LOCK_ARGS='--upgrade-package fastapi'` (one).
# The runtime lock takes its versions from the test lock, so the two never disagree.
UV_VERSION := 0.13.9
UV         := $(VENV)/uv-tool/bin/uv
LOCK_ARGS  ?=
UV_COMPILE := $(UV) pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
              --python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock"

$(UV): | $(BIN)/python
	$(PYTHON) -m venv $(VENV)/uv-tool
	$(VENV)/uv-tool/bin/python -m pip install --quiet uv==$(UV_VERSION)

lock: | $(UV)
	$(UV_COMPILE) --extra test $(LOCK_ARGS) -o $(TEST_LOCK)
	$(UV_COMPILE) -c $(TEST_LOCK) -o $(LOCK)
	$(UV) pip compile requirements/build.in --quiet --generate-hashes --python-version 3.11 \
	  --python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" $(LOCK_ARGS) -o $(BUILD_LOCK)

# After changing a desk page or message: re-extract the catalog, then translate what is new.
messages: $(VENV)/.installed
	$(BIN)/python -m app.desk.catalog

openapi: $(VENV)/.installed
	$(BIN)/python -m app openapi > openapi/openapi.json

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage settle.db
