# One entry point for lint, type check, tests and generated files; README and .ci/run call these.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: all install lint typecheck test completions proto wire-doc

all: lint typecheck test

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

# Test processes: each starts its own Redis and mostly waits on it, so more than the core count helps.
JOBS ?= 4

test:
	$(BIN)/pytest -q -n $(JOBS)

completions:
	for sh in bash zsh fish; do \
	  _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION=1 $(BIN)/asynq-py --show-completion $$sh > completions/asynq-py.$$sh; \
	done

# docs/wire.md §4.4, the KEYS/ARGV headers of engine/scripts/*.lua (tests/test_wire_doc.py checks it).
wire-doc:
	$(BIN)/python tests/test_wire_doc.py

proto:
	cd engine/_pb && $(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. asynq.proto
