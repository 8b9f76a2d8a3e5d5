"""Fixtures for the CLI tests: an isolated environment, an empty real Redis, and a runner.

Every test gets a fresh environment (no user config, a private data folder, NO_COLOR, wide output)
and a flushed database on the session's real server, and checks what the commands did through the
engine's ``Inspector``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from asynq_py.cli.main import app
from asynq_py.engine import Client, Inspector

ASYNQ_PY = str(Path(sys.executable).with_name("asynq-py"))
"""The installed console script, for subprocess tests."""

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5}
"""Exit codes a command may end with in tests (130 and 141 need a signal or a closed pipe)."""


@dataclass
class Run:
    """What one CLI run produced."""

    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    def check(self, code: int = 0) -> Run:
        """Assert the exit code, and that no traceback leaked; return self."""
        assert self.exit_code == code, (self.exit_code, self.stdout, self.stderr)
        assert "Traceback" not in self.stdout + self.stderr
        return self

    @property
    def error(self) -> str:
        """The one error line on stderr."""
        lines = [line for line in self.stderr.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1, self.stderr
        return lines[0]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, real_redis_url: str) -> dict[str, str]:
    """Point asynq-py at the test Redis, with no user config and a private data folder."""
    for name in list(os.environ):
        if name.startswith(("ASYNQ_", "XDG_")):
            monkeypatch.delenv(name)
    values = {
        "ASYNQ_REDIS_URL": real_redis_url,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "NO_COLOR": "1",
        "COLUMNS": "250",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def r(real_redis_url: str, env: dict[str, str]) -> Iterator[redis.Redis]:
    """A raw client to the test database, flushed before the test."""
    client = redis.Redis.from_url(real_redis_url, socket_timeout=5)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def inspector(real_redis_url: str, r: redis.Redis) -> Iterator[Inspector]:
    """An inspector on the test database (flushed)."""
    with Inspector(real_redis_url) as insp:
        yield insp


@pytest.fixture
def client(real_redis_url: str, r: redis.Redis) -> Iterator[Client]:
    """A client on the test database (flushed)."""
    with Client(real_redis_url) as c:
        yield c


CliFn = Callable[..., Run]
"""``cli("ls", "pending", input=...)`` runs asynq-py in-process and returns a ``Run``."""


@pytest.fixture
def cli(r: redis.Redis) -> CliFn:
    """Run ``asynq-py`` in-process: ``cli("ls", "pending", input="...")`` → ``Run``."""
    runner = CliRunner()

    def run(*args: str, input: str | bytes | None = None) -> Run:
        result = runner.invoke(app, list(args), input=input, prog_name="asynq-py")
        return Run(result.exit_code, result.stdout, result.stderr, result.exception)

    return run


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary folder with a short path (a Unix socket path must stay under ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="aqcli", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
