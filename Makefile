# gansu-health — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export GANSU_HEALTH_DATABASE_URL ?= sqlite:///var/gansu-health.db

.PHONY: run test install install-dev system-deps lint typecheck pytest seed serve clean tables

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

## Debian packages the test suite needs (PostgreSQL server; chromium and a CJK font for the
## browser tests); installed when missing.
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing="$$missing fonts-noto-cjk"; \
	if [ -n "$$missing" ]; then \
	  echo "installing from Debian's packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

run: install
	$(BIN)/gansu-health db upgrade
	$(BIN)/gansu-health seed --demo
	$(BIN)/gansu-health serve --host 127.0.0.1 --port 8000

lint: install-dev
	$(BIN)/ruff check src tests scripts

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev system-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

test: lint typecheck pytest

tables:
	$(BIN)/python scripts/gen_fhir_tables.py ../shared/data/fhir-r4

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
