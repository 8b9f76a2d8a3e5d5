"""Mistakes in the user's own code or setup are reported as such: one line, exit 2, never "internal error"."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import ASYNQ_PY


def run(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ASYNQ_PY, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **env}, cwd=cwd
    )


def one_error_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), done.stderr
    assert "internal error" not in lines[0]
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("source", "line", "fragment"),
    [
        ("import os\n\ndef broken(:\n    pass\n", 3, "SyntaxError: invalid syntax"),
        ("x = 1\nraise RuntimeError('no config for the app')\n", 2, "RuntimeError: no config for the app"),
        ("import nosuchmodule_for_asynq_py\n", 1, "No module named 'nosuchmodule_for_asynq_py'"),
    ],
)
def test_serve_reports_errors_in_the_users_module_as_file_and_line(env, tmp_path, source, line, fragment):
    (tmp_path / "bad.py").write_text(source)
    message = one_error_line(run(env, "serve", "bad.py:mux", cwd=tmp_path), 2)
    assert f"bad.py:{line}: " in message, message
    assert fragment in message, message
    debug = run(env, "--debug", "serve", "bad.py:mux", cwd=tmp_path)
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr
    assert f"bad.py:{line}: " in debug.stderr


def test_serve_reports_errors_in_a_users_package_module(env, tmp_path):
    (tmp_path / "badpkg.py").write_text("VALUE = 1 / 0\n")
    message = one_error_line(run(env, "serve", "badpkg:mux", cwd=tmp_path), 2)
    assert "badpkg.py:1: ZeroDivisionError: division by zero" in message, message


@pytest.mark.parametrize("shape", ["a file", "under a file"])
def test_unusable_data_folder_is_one_line_exit_2(env, tmp_path, shape):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    home = blocker if shape == "a file" else blocker / "sub"
    env = {**env, "ASYNQ_REDIS_URL": "", "ASYNQ_PY_HOME": str(home)}
    message = one_error_line(run(env, "queues"), 2)
    assert str(home) in message, message
    assert "ASYNQ_PY_HOME" in message, message
