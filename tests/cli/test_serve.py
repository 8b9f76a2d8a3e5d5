"""``asynq-py serve``: a real worker process started from the command line."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from helpers import wait_for

from asynq_py.engine import Inspector, Task, TaskState

from .conftest import ASYNQ_PY

ROOT = Path(__file__).resolve().parents[2]


def test_serve_runs_the_example_app_and_stops_on_sigterm(env, client, inspector: Inspector) -> None:
    proc = subprocess.Popen(
        [ASYNQ_PY, "serve", "examples/app.py:mux", "--queues", "critical=6,default=3", "--concurrency", "4",
         "--shutdown-timeout", "2s"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        server = wait_for(lambda: [s for s in inspector.servers() if s.pid == proc.pid], timeout=15)
        assert server[0].queues == {"critical": 6, "default": 3} and server[0].concurrency == 4
        sent = client.enqueue(Task("email:deliver", {"user_id": 42}), queue="critical")
        kept = client.enqueue(Task("image:resize", {"url": "u"}), retention=60)
        wait_for(lambda: inspector.get_queue_info("critical").processed == 1, timeout=15)
        assert inspector.find_task(sent.id) == []
        done = wait_for(
            lambda: inspector.get_task_info("default", kept.id).state is TaskState.COMPLETED, timeout=15
        )
        assert done and inspector.get_task_info("default", kept.id).result == b"resized:u"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert out == b""  # logs go to stderr only
    assert b"Traceback" not in err
    assert [s for s in inspector.servers() if s.pid == proc.pid] == []


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["nosuchmodule:mux"], 3, "cannot import"),
        (["examples/app.py:nothing"], 3, "has no attribute"),
        (["examples/app.py"], 2, "module:attribute"),
        (["examples/app.py:mux", "--queues", "a=x"], 2, "whole number"),
        (["examples/app.py:mux", "--log-level", "loud"], 2, "log-level"),
        (["examples/app.py:mux", "--shutdown-timeout", "soon"], 2, "duration"),
    ],
)
def test_serve_refuses_bad_arguments(cli, monkeypatch, args: list[str], code: int, fragment: str) -> None:
    monkeypatch.chdir(ROOT)
    result = cli("serve", *args).check(code)
    assert fragment in result.stderr
