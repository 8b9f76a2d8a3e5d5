"""Real ``asynq-py`` processes: pipes between two of them, exit codes, and nothing on stdout but data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asynq_py.engine import Task

pytestmark = pytest.mark.real

ASYNQ_PY = str(Path(sys.executable).with_name("asynq-py"))


def run(env, *args, input=None, check=0):
    done = subprocess.run(
        [ASYNQ_PY, *args], input=input, capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )
    assert done.returncode == check, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def test_module_entry_point(env):
    done = subprocess.run(
        [sys.executable, "-m", "asynq_py.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )
    assert done.returncode == 0
    assert "enqueue" in done.stdout


def test_version(env):
    assert run(env, "--version").stdout.startswith("asynq-py ")


def test_pipe_between_two_processes(env, r, inspector):
    ids = [run(env, "enqueue", "job", "--in", "1h").stdout.strip() for _ in range(3)]
    listing = subprocess.Popen(
        [ASYNQ_PY, "ls", "scheduled", "--ids", "--all"], stdout=subprocess.PIPE, env={**os.environ, **env}
    )
    killing = subprocess.run(
        [ASYNQ_PY, "kill", "-"],
        stdin=listing.stdout,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert listing.stdout is not None
    listing.stdout.close()
    assert listing.wait(timeout=60) == 0
    assert killing.returncode == 0, killing.stderr
    assert killing.stdout == ""
    assert sorted(t.id for t in inspector.list_tasks("default", "archived")) == sorted(ids)


def test_stdout_holds_only_data(env, r):
    done = run(env, "enqueue", "job", "--payload", '{"a":1}')
    assert len(done.stdout.splitlines()) == 1
    assert "enqueued" in done.stderr
    assert run(env, "--quiet", "enqueue", "job").stderr == ""
    assert run(env, "ls", "pending", "--ids", "-q", "nope", check=3).stdout == ""


def test_exit_codes(env, r):
    assert run(env, "ls", "sideways", check=2).stderr.startswith("error: ")
    assert run(env, "enqueue", "job", "--payload", "{", check=2).stderr.startswith("error: ")
    assert run(env, "inspect", "missing", check=3).stderr.startswith("error: ")
    run(env, "enqueue", "job", "--id", "one")
    assert run(env, "enqueue", "job", "--id", "one", check=4).stderr.startswith("error: ")
    assert run(env, "--redis", "redis://127.0.0.1:1/0", "queues", check=5).stderr.startswith("error: ")


def test_closed_pipe_is_quiet(env, client):
    for _ in range(3000):
        client.enqueue(Task("a"))
    done = subprocess.run(
        f"{ASYNQ_PY} ls pending --ids --all | head -1",
        shell=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert len(done.stdout.splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert "Exception ignored" not in done.stderr
