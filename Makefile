# Online Cinema: developer entry points. Everything runs from the project's own .venv.
#   make dev          the whole stack (Postgres, Redis, Temporal + UI, SMTP sink, API, worker)
#   make test         lint + format check + type check + the test suite (what CI runs)
#   make lint | fmt | bench | clean-stack

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP_FLAGS ?= -qq
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install dev test lint fmt typecheck bench clean-stack

help:
	@echo "make dev          start the local stack (API on 127.0.0.1:\$${API_PORT:-8001}); Ctrl-C stops it"
	@echo "make test         ruff check + ruff format --check + mypy + pytest (PYTEST_ARGS=...)"
	@echo "make lint         ruff check + ruff format --check"
	@echo "make fmt          ruff format + ruff check --fix"
	@echo "make bench        python -m bench all: every benchmark scenario (SCENARIO=catalog|accounts, BENCH_ARGS=...)"
	@echo "make clean-stack  delete .stack/ (local databases, mail, logs)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_FLAGS) -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/python -m devstack up

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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
