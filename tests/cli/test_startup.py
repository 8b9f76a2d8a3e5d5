"""What the ``asynq-py`` entry point loads before it answers (figures: benchmarks/startup.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from .conftest import ASYNQ_PY


def loaded_modules(*args: str, env: dict[str, str] | None = None) -> tuple[str, set[str]]:
    """Run the real console script under ``-X importtime``; return its stdout and every module it loaded."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", ASYNQ_PY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", done.stderr, re.MULTILINE))
    assert "asynq_py.cli.entry" in modules
    return done.stdout, modules


def heavy(modules: set[str], *roots: str) -> list[str]:
    return sorted(m for m in modules if any(m == r or m.startswith(r + ".") for r in roots))


def test_version_loads_no_cli_framework_redis_protobuf_or_tables() -> None:
    out, modules = loaded_modules("--version")
    assert out.startswith("asynq-py 0.1.0 (asynq wire format v0.26.0)")
    assert heavy(modules, "redis", "textual", "rich", "google.protobuf", "typer", "asyncio", "pydantic") == []


def test_completing_a_command_name_loads_no_redis_rich_or_textual() -> None:
    env = {"_ASYNQ_PY_COMPLETE": "complete_bash", "COMP_WORDS": "asynq-py l", "COMP_CWORD": "1"}
    out, modules = loaded_modules(env=env)
    assert out.split() == ["ls"]
    assert heavy(modules, "redis", "textual", "rich", "google.protobuf", "pydantic") == []
