# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
export SETTLE_ADMIN_TOKEN ?= dev-admin-token-change-me
#: The password of make run's sample desk users (development only; printed on the banner).
DESK_PASSWORD ?= desk-sample-password

.PHONY: run test lint typecheck pytest openapi bench clean browser messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
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

# The desk's browser tests drive Debian's chromium (and need a CJK font for the pages' Chinese).
# Installed only when missing; without root or a package mirror the tests say so and skip
# (and fail in CI, where CI=true).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; \
	  else echo "chromium is missing and this is not root: the browser tests will be skipped" >&2; fi; \
	fi

pytest: $(VENV)/.installed-test browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# After changing a desk page or message: re-extract the catalog, then translate what is new.
messages: $(VENV)/.installed
	$(BIN)/python -m app.desk.catalog

openapi: $(VENV)/.installed
	$(BIN)/python -m app openapi > openapi/openapi.json

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis settle.db
