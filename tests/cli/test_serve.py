"""``asynq-py serve``: a real worker process started from the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
from helpers import wait_for

from asynq_py.engine import Inspector, Task, TaskState

from ..conftest import free_port
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
        assert server[0].queues == {"critical": 6, "default": 3}
        assert server[0].concurrency == 4
        sent = client.enqueue(Task("email:deliver", {"user_id": 42}), queue="critical")
        kept = client.enqueue(Task("image:resize", {"url": "u"}), retention=60)
        wait_for(lambda: inspector.get_queue_info("critical").processed == 1, timeout=15)
        assert inspector.find_task(sent.id) == []
        done = wait_for(
            lambda: inspector.get_task_info("default", kept.id).state is TaskState.COMPLETED, timeout=15
        )
        assert done
        assert inspector.get_task_info("default", kept.id).result == b"resized:u"
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


@pytest.mark.parametrize("processes", ["1", "2"])
def test_serve_gives_up_after_redis_wait(env, processes: str) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    run = subprocess.run(
        [ASYNQ_PY, "--redis", dead, "serve", "examples/app.py:mux", "--redis-wait", "1s",
         "--processes", processes],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 5, run.stderr
    assert "Traceback" not in run.stderr
    assert "trying again in 0.5s" in run.stderr
    assert run.stderr.rstrip().splitlines()[-1].startswith("error: "), run.stderr


def test_supervised_workers_shut_down_when_the_supervisor_is_killed(
    env, inspector: Inspector, queue, tmp_path: Path
) -> None:
    """The real `asynq-py serve --processes 2` (issue 12 item 2), its supervisor SIGKILLed."""
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [ASYNQ_PY, "serve", "examples/app.py:mux", "--queues", queue, "--processes", "2",
             "--shutdown-timeout", "1s"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=sink,
            start_new_session=True,
        )  # fmt: skip
    try:

        def workers() -> list[int] | None:
            pids = [s.pid for s in inspector.servers() if queue in s.queues]
            return pids if len(pids) == 2 else None

        children = wait_for(workers, timeout=20, what="two workers")
        assert proc.pid not in children
        proc.kill()
        killed = time.monotonic()
        proc.wait(10)
        wait_for(lambda: not any(_alive(pid) for pid in children), timeout=10, what="workers to exit")
        took = time.monotonic() - killed
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert took < 2 + 2, f"workers took {took:.1f}s to exit"  # 2 s, plus slack for a loaded machine
    err = log.read_text()
    assert err.count(f"the supervisor (pid {proc.pid}) is gone; shutting down") == 2, err
    assert err.count(": shut down") == 2, err
    assert "Traceback" not in err
    assert [s for s in inspector.servers() if queue in s.queues] == []  # their heartbeats were cleared


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (the workers are adopted by init, which reaps them)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    return state != "Z"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_password_in_redis_url_warns_and_stays_out_of_the_process_list(
    env, real_server_factory, queue, tmp_path: Path
) -> None:
    secret = "s3cret-in-url"
    srv = real_server_factory()
    admin = redis.Redis(port=srv.port)
    admin.config_set("requirepass", secret)
    admin.close()
    url = f"redis://:{secret}@127.0.0.1:{srv.port}/0"
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [ASYNQ_PY, "--redis", url, "serve", "examples/app.py:mux", "--queues", queue, "--processes", "2",
             "--shutdown-timeout", "1s"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=sink,
            start_new_session=True,
        )  # fmt: skip
    try:
        with Inspector(url) as inspector:

            def workers() -> list[int] | None:
                pids = [s.pid for s in inspector.servers() if queue in s.queues]
                return pids if len(pids) == 2 else None

            children = wait_for(workers, timeout=20, what="two workers")
        for pid in [proc.pid, *children]:
            assert secret.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes(), pid
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    err = log.read_text()
    assert err.count("warning: the password in --redis is visible to other users") == 1, err
    assert secret not in err
