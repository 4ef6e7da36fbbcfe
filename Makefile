# Online Cinema: developer entry points. Everything runs from the project's own .venv.
#   make dev          the whole stack (Postgres, Redis, Temporal + UI, SMTP sink, API, worker)
#   make test         lint + format check + type check + the test suite (what CI runs)
#   make lock         refresh the lock files from pyproject.toml (keeps today's pins where allowed)
#   make lock-upgrade the same, every pin moved to the newest release pyproject allows
#   make lint | fmt | bench | clean-stack

# pipefail: `make lock` pipes pyproject's build requirements into uv; a failure must stop it.
SHELL := bash
.SHELLFLAGS := -o pipefail -c

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_FLAGS ?= -qq
PYTEST_ARGS ?=

# Installs come only from these (exact versions, sha256 of every file of each version):
#   runtime.txt  the image's dependencies      dev.txt  + the `dev` extra (test, stack, linters)
#   uv.txt       the resolver that `make lock` runs      pip.txt  pip, for a venv whose own is too old
# plus pyproject's build requirements (setuptools) in both runtime.txt and dev.txt.
REQ := requirements
RUNTIME_LOCK := $(REQ)/runtime.txt
DEV_LOCK := $(REQ)/dev.txt
LOCKFILE := $(REQ)/lockfile.py
# Editable installs of a pyproject-only project need PEP 660 (pip 21.3). Every Python >= 3.11
# venv starts newer; an older pip is replaced by the one pinned in pip.txt.
PIP_MIN := 21.3
# pip never resolves anything here: every install is --no-deps from exact pins. A machine-wide
# constraint file (pip.conf `constraint`) is overridden, since the lock already is the whole answer.
PIP := PIP_CONSTRAINT=/dev/null $(BIN)/python -m pip
# The lowest Python in requires-python: the lock holds markers for it and everything newer.
LOCK_PYTHON := 3.11
UV_COMPILE = $(BIN)/uv pip compile --no-config --quiet --universal --python-version $(LOCK_PYTHON) \
	--generate-hashes --custom-compile-command "make lock"

.DEFAULT_GOAL := help
.PHONY: help install dev test fuzz lint fmt typecheck bench clean-stack lock lock-upgrade lock-check

help:
	@echo "make dev          start the local stack (API on 127.0.0.1:\$${API_PORT:-8001}); Ctrl-C stops it"
	@echo "make test         ruff check + ruff format --check + mypy + pytest (PYTEST_ARGS=...)"
	@echo "make fuzz         the API fuzz (tests/api/test_fuzz.py) with 8x the examples of make test"
	@echo "make lint         ruff check + ruff format --check"
	@echo "make fmt          ruff format + ruff check --fix"
	@echo "make bench        python -m bench all: every benchmark scenario (SCENARIO=catalog|accounts|checkout, BENCH_ARGS=...)"
	@echo "make clean-stack  delete .stack/ (local databases, mail, logs)"
	@echo "make lock         re-resolve $(RUNTIME_LOCK) and $(DEV_LOCK) after editing pyproject.toml"
	@echo "make lock-upgrade the same, moving every pin to the newest allowed release"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Fails fast, before any install, when pyproject's dependencies changed but the locks did not.
lock-check:
	@$(PYTHON) $(LOCKFILE) check $(RUNTIME_LOCK) $(DEV_LOCK)

# Reinstall when the dev lock or pyproject.toml changed since the last install; then remove what
# the lock no longer names, so .venv holds exactly the lock.
$(STAMP): $(DEV_LOCK) pyproject.toml | lock-check $(BIN)/python
	@$(BIN)/python $(LOCKFILE) pip-at-least $(PIP_MIN) || \
	  $(PIP) install $(PIP_FLAGS) --require-hashes --no-deps -r $(REQ)/pip.txt
	$(PIP) install $(PIP_FLAGS) --require-hashes --no-deps -r $(DEV_LOCK)
	$(PIP) install $(PIP_FLAGS) --no-deps --no-build-isolation -e .
	@$(BIN)/python $(LOCKFILE) prune $(DEV_LOCK) $(REQ)/uv.txt
	@touch $(STAMP)

install: $(STAMP)

# `make lock` keeps every pin that pyproject still allows (uv reads the current file as its
# preference); `make lock-upgrade` re-resolves everything, uv and the fallback pip included.
# The runtime lock is constrained by the dev lock, so the image runs exactly what the tests ran.
lock lock-upgrade: | $(BIN)/python
	$(PIP) install $(PIP_FLAGS) --require-hashes --no-deps -r $(REQ)/uv.txt
	echo uv | $(UV_COMPILE) $(if $(filter lock-upgrade,$@),--upgrade) - -o $(REQ)/uv.txt
	echo pip | $(UV_COMPILE) $(if $(filter lock-upgrade,$@),--upgrade) - -o $(REQ)/pip.txt
	$(PIP) install $(PIP_FLAGS) --require-hashes --no-deps -r $(REQ)/uv.txt
	$(PYTHON) $(LOCKFILE) build-requires | $(UV_COMPILE) $(if $(filter lock-upgrade,$@),--upgrade) \
	  --extra dev pyproject.toml - -o $(DEV_LOCK)
	$(PYTHON) $(LOCKFILE) build-requires | $(UV_COMPILE) -c $(DEV_LOCK) \
	  pyproject.toml - -o $(RUNTIME_LOCK)
	$(PYTHON) $(LOCKFILE) stamp $(RUNTIME_LOCK) $(DEV_LOCK)
	@$(PYTHON) $(LOCKFILE) check $(RUNTIME_LOCK) $(DEV_LOCK)
	@git diff --stat -- $(REQ) 2>/dev/null || true

dev: $(STAMP)
	$(BIN)/python -m devstack up

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The API fuzz with 8x the examples `make test` uses (by hand, ~17 min; see tests/api/test_fuzz.py).
fuzz: $(STAMP)
	FUZZ_EXAMPLES=400 $(BIN)/python -m pytest tests/api/test_fuzz.py $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

SCENARIO ?= all
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/python -m bench $(SCENARIO) $(BENCH_ARGS)

clean-stack:
	@for f in .stack/*/.devstack.pid; do \
	  if [ -f "$$f" ] && kill -0 "$$(cut -d' ' -f1 "$$f")" 2>/dev/null; then \
	    echo "the dev stack is still running ($$f); stop it first"; exit 1; \
	  fi; \
	done
	rm -rf .stack
	@echo "removed .stack/ (local Postgres, Redis, Temporal history, mail, logs)"
