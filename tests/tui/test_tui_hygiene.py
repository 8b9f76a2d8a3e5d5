"""The dashboard's layering: it reaches Redis only through the public engine API."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import asynq_py.engine as engine
import asynq_py.tui

TUI = Path(asynq_py.tui.__file__).resolve().parent
SOURCES = sorted(TUI.glob("**/*.py"))


def _imports(source: str) -> set[str]:
    """Every module imported; a name taken from ``asynq_py.engine`` that is not in its ``__all__``
    (a submodule, a private name) counts as the module ``asynq_py.engine.<name>``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            if node.module == "asynq_py.engine":
                names.update(f"asynq_py.engine.{a.name}" for a in node.names if a.name not in engine.__all__)
    return names


def _forbidden(source: str) -> set[str]:
    return {
        name
        for name in _imports(source)
        if name.split(".")[0] in {"redis", "typer", "fakeredis"}
        or name.startswith(("asynq_py.cli", "asynq_py.engine."))
    }


def test_there_are_sources() -> None:
    assert {p.name for p in SOURCES} >= {"app.py", "fetch.py", "messages.py", "__init__.py"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_only_the_public_engine_api_is_imported(path: Path) -> None:
    assert _forbidden(path.read_text()) == set()


def test_the_check_tells_public_names_from_engine_internals() -> None:
    source = (
        "from asynq_py.engine import Rate, next_start_text, limits, keys\n"
        "from asynq_py.engine.limits import Limit\n"
        "import asynq_py.engine.rdb\n"
        "from redis import Redis\n"
        "from asynq_py.cli.limit import describe\n"
    )
    assert _forbidden(source) == {
        "asynq_py.engine.limits",
        "asynq_py.engine.keys",
        "asynq_py.engine.rdb",
        "redis",
        "asynq_py.cli.limit",
    }


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_key_names(path: Path) -> None:
    assert "asynq:" not in path.read_text()


def test_only_fetch_calls_the_inspector() -> None:
    calls = {
        p.name: set(re.findall(r"inspector\.(\w+)\(", p.read_text())) for p in SOURCES if p.name != "fetch.py"
    }
    # run_dashboard closes what it was given; nothing else outside fetch.py touches the inspector.
    assert {name: found for name, found in calls.items() if found} == {"app.py": {"aclose"}}


def test_importing_the_engine_does_not_load_textual() -> None:
    code = "import sys, asynq_py.engine; assert 'textual' not in sys.modules, 'textual was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_entry_point_signature() -> None:
    code = "import inspect, asynq_py.tui as t; print(inspect.signature(t.run_dashboard))"
    out = subprocess.run([sys.executable, "-c", code], check=True, timeout=60, capture_output=True, text=True)
    assert out.stdout.strip() == (
        "(inspector: 'AsyncInspector', client: 'AsyncClient | None' = None, "
        "refresh_s: 'float' = 2.0) -> 'int'"
    )
