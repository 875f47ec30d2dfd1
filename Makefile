# pyicechunk developer tasks. On a fresh machine: `make demo`, then `make test`.
#
# Three virtual environments, each rebuilt only when its inputs change (stamp files):
#   .venv       Python 3 (python3) with this package installed editable + all extras
#   .venv-real  Python >= 3.12 with the real icechunk 2.x wheel (interop reference)
#   .venv-v1    Python 3.11 with icechunk 1.1.21, which writes spec-v1 repositories

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
PIP_FLAGS ?= --disable-pip-version-check --quiet
EXTRAS ?= dask,xarray,widgets,test
REAL_PACKAGES ?= icechunk==2.3.0 zarr numpy xarray
V1_PACKAGES ?= icechunk==1.1.21 zarr
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=

VENV := .venv
VENV_REAL := .venv-real
VENV_V1 := .venv-v1
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAMP_REAL := $(VENV_REAL)/.installed
STAMP_V1 := $(VENV_V1)/.installed
FIND_PYTHON := scripts/find_python.sh

# The interop tests find the reference interpreters through these (tests/interop/harness.py).
export ICECHUNK_REAL_PYTHON := $(abspath $(VENV_REAL)/bin/python)
export ICECHUNK_V1_PYTHON := $(abspath $(VENV_V1)/bin/python)

.PHONY: help venvs $(VENV) $(VENV_REAL) $(VENV_V1) test lint typecheck pytest demo bench \
        clean distclean chromium

help:
	@echo "make demo       build .venv and run scripts/demo.py"
	@echo "make test       build all venvs, then ruff check + mypy + pytest (PYTEST_ARGS=...)"
	@echo "make lint       ruff check"
	@echo "make typecheck  mypy (strict on icechunk and icechunk_widgets)"
	@echo "make bench      run benchmarks/run.py"
	@echo "make venvs      build .venv, .venv-real (icechunk 2.x) and .venv-v1 (icechunk 1.1.21)"
	@echo "make clean      remove caches and scratch output; distclean also removes the venvs"

venvs: $(VENV) $(VENV_REAL) $(VENV_V1)

$(VENV): $(STAMP)
$(VENV_REAL): $(STAMP_REAL)
$(VENV_V1): $(STAMP_V1)

# make_venv DIR PYTHON: (re)create DIR unless it already holds a working interpreter.
define make_venv
	if ! $(1)/bin/python -c 'import sys' >/dev/null 2>&1; then \
		rm -rf $(1); \
		echo "creating $(1) with $$($(2) --version 2>&1) ($(2))"; \
		$(2) -m venv $(1); \
	fi
	$(1)/bin/python -m pip install $(PIP_FLAGS) --upgrade pip
endef

$(STAMP): pyproject.toml
	$(call make_venv,$(VENV),$(PYTHON))
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[$(EXTRAS)]"
	touch $@

$(STAMP_REAL): Makefile $(FIND_PYTHON)
	py=$$(bash $(FIND_PYTHON) 12); $(call make_venv,$(VENV_REAL),$$py)
	$(VENV_REAL)/bin/python -m pip install $(PIP_FLAGS) $(REAL_PACKAGES)
	$(VENV_REAL)/bin/python -I -c 'import icechunk, zarr; print("$(VENV_REAL): icechunk", icechunk.__version__, "zarr", zarr.__version__)'
	touch $@

$(STAMP_V1): Makefile $(FIND_PYTHON)
	py=$$(bash $(FIND_PYTHON) 11 11); $(call make_venv,$(VENV_V1),$$py)
	$(VENV_V1)/bin/python -m pip install $(PIP_FLAGS) $(V1_PACKAGES)
	$(VENV_V1)/bin/python -I -c 'import icechunk, zarr; print("$(VENV_V1): icechunk", icechunk.__version__, "zarr", zarr.__version__)'
	touch $@

# The widget browser tests drive Debian's chromium through Playwright (never `playwright
# install`). Installed once; skipped when present. DPkg::Lock::Timeout waits for a held lock.
CHROMIUM ?= /usr/bin/chromium
APT_GET := apt-get -o DPkg::Lock::Timeout=600
chromium:
	@if [[ -x "$(CHROMIUM)" ]]; then \
		echo "chromium: $(CHROMIUM) present"; \
	else \
		echo "chromium: installing the Debian package"; \
		$(APT_GET) update -q && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q chromium; \
	fi

# Runs every check even when an earlier one fails, then fails if any did.
test: $(VENV) $(VENV_REAL) $(VENV_V1) chromium
	status=0; \
	echo "== ruff check"; $(BIN)/ruff check icechunk icechunk_widgets tests || status=1; \
	echo "== mypy"; $(BIN)/mypy || status=1; \
	echo "== pytest"; $(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS) || status=1; \
	exit $$status

lint: $(VENV)
	$(BIN)/ruff check icechunk icechunk_widgets tests

typecheck: $(VENV)
	$(BIN)/mypy

pytest: $(VENV) $(VENV_REAL) $(VENV_V1) chromium
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

demo: $(VENV)
	$(BIN)/python scripts/demo.py

bench: $(VENV) $(VENV_REAL)
	@if [[ -f benchmarks/run.py ]]; then \
		$(BIN)/python benchmarks/run.py; \
	else \
		echo "benchmarks/run.py does not exist yet"; \
	fi

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis .interop-cache demo-repo build \
		*.egg-info
	find . -path ./$(VENV) -prune -o -path ./$(VENV_REAL) -prune -o -path ./$(VENV_V1) -prune \
		-o -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) $(VENV_REAL) $(VENV_V1)
