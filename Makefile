# One entry point for lint, type check, tests and generated files; README and .ci/run call these.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: all install lint typecheck test test-fast lowest completions proto wire-doc

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
# Work stealing keeps the long chaos and topology tests from queueing behind each other on one
# process (idle 2 cores: 5 min 7 s with xdist's default distribution, 3 min 50 s with this).
JOBS ?= 4

test:
	$(BIN)/pytest -q -n $(JOBS) --dist worksteal

# The fast tests: fakeredis and pure functions, plus the CLI's generated help (docs, completions).
test-fast:
	$(BIN)/pytest -q -n $(JOBS) --dist worksteal -m "not real and not interop and not slow" -k "not real and not state_machine" \
	  tests/engine tests/x tests/tui/test_tui_hygiene.py tests/cli/test_parse_render.py tests/test_helpers.py \
	  tests/cli/test_generated.py::test_docs_are_current tests/cli/test_generated.py::test_completion_scripts_are_current

# Every direct dependency at the lowest version pyproject.toml declares, in .venv-lowest, then the
# fast tests: the declared lower bounds stay true.
lowest:
	rm -rf .venv-lowest
	$(PY) -m venv .venv-lowest
	.venv-lowest/bin/pip install -q --upgrade pip
	$(PY) .ci/lowest_constraints.py > .venv-lowest/constraints.txt
	.venv-lowest/bin/pip install -q -c .venv-lowest/constraints.txt -e '.[test]'
	$(MAKE) test-fast VENV=.venv-lowest

completions:
	for sh in bash zsh fish; do \
	  _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION=1 $(BIN)/asynq-py --show-completion $$sh > completions/asynq-py.$$sh; \
	done

# docs/wire.md §4.4, the KEYS/ARGV headers of engine/scripts/*.lua (tests/test_wire_doc.py checks it).
wire-doc:
	$(BIN)/python tests/test_wire_doc.py

proto:
	cd engine/_pb && $(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. asynq.proto
