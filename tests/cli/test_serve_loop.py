"""``serve --loop`` and ``scheduler --loop``: the event loop of the worker, from the flag, the config
file's ``[serve] loop`` or ``auto``, in every worker process."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers import stop, wait_for

from asynq_py.engine import Client, Inspector, Server, Task, TaskState

from .conftest import ASYNQ_PY

ROOT = Path(__file__).resolve().parents[2]

LOOP_APP = """
import asyncio

from asynq_py.engine import ServeMux

mux = ServeMux()


@mux.handle_func("loop")
async def which_loop(ctx, task) -> bytes:
    return type(asyncio.get_running_loop()).__module__.encode()
"""
"""An app whose task's result is the module of the event loop it ran on."""


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stop ``serve`` where the server would run: record its ``event_loop`` instead."""
    loops: list[str] = []
    monkeypatch.setattr(Server, "run", lambda self, handler: loops.append(self.config.event_loop))
    monkeypatch.setattr("asynq_py.cli.serve.configure_logging", lambda level, fmt: None)
    return loops


def write_config(env: dict[str, str], text: str) -> Path:
    path = Path(env["XDG_CONFIG_HOME"]) / "asynq-py" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("flag", "config", "expected"),
    [
        ([], None, "asyncio"),
        (["--loop", "auto"], None, "auto"),
        (["--loop", "UVLOOP"], None, "uvloop"),
        ([], 'loop = "asyncio"', "asyncio"),
        (["--loop", "uvloop"], 'loop = "asyncio"', "uvloop"),
    ],
)
def test_the_loop_reaches_the_server_config(
    cli, env, served: list[str], monkeypatch, flag: list[str], config: str | None, expected: str
) -> None:
    monkeypatch.chdir(ROOT)
    if config is not None:
        write_config(env, f"[serve]\n{config}\n")
    cli("serve", "examples/app.py:mux", *flag).check()
    assert served == [expected]
    shown = json.loads(cli("config", "show", "--json").check().stdout)
    assert (shown["loop"], shown["loop_source"]) == (
        ("asyncio", "config file") if config else ("asyncio", "default")
    )


@pytest.mark.parametrize(
    "args", [["serve", "examples/app.py:mux", "--loop", "bogus"], ["scheduler", "--loop", "trio"]]
)
def test_an_unknown_loop_is_a_usage_error(cli, monkeypatch, args: list[str]) -> None:
    monkeypatch.chdir(ROOT)
    result = cli(*args).check(2)
    assert "--loop" in result.error
    assert "auto, asyncio, uvloop" in result.error


def test_an_unknown_loop_in_the_config_file_is_a_usage_error(cli, env, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    write_config(env, '[serve]\nloop = "fast"\n')
    result = cli("serve", "examples/app.py:mux").check(2)
    assert "serve.loop" in result.error
    assert '"auto", "asyncio" or "uvloop"' in result.error


def test_uvloop_asked_for_where_it_is_missing_is_a_usage_error(env, tmp_path: Path) -> None:
    fake = tmp_path / "no_uvloop"
    fake.mkdir()
    (fake / "uvloop.py").write_text("raise ImportError('uvloop is missing in this test')\n")
    done = subprocess.run(
        [ASYNQ_PY, "serve", "examples/app.py:mux", "--loop", "uvloop", "--redis-wait", "1s"],
        cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": str(fake)}, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: event loop uvloop is not available here"), done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("loop", "module"), [("asyncio", b"asyncio.unix_events"), ("uvloop", b"uvloop")])
def test_supervised_workers_and_their_scheduler_run_on_the_loop_asked_for(
    cli, env, client: Client, inspector: Inspector, queue: str, tmp_path: Path, loop: str, module: bytes
) -> None:
    """Each forked worker runs on the loop, and forking beside the scheduler's running loop (its
    thread in the supervisor, on the same loop) leaves both working."""
    (tmp_path / "loopapp.py").write_text(LOOP_APP)
    schedules = tmp_path / "schedules.toml"
    cli("schedule", "add", "--schedules", str(schedules), "@every 1s", "loop:tick", "-q", queue).check()
    proc = subprocess.Popen(
        [ASYNQ_PY, "serve", "loopapp.py:mux", "--queues", queue, "--processes", "2", "--loop", loop,
         "--schedules", str(schedules), "--shutdown-timeout", "1s"],
        cwd=tmp_path, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: len([s for s in inspector.servers() if queue in s.queues]) == 2, timeout=20)
        ids = [client.enqueue(Task("loop"), queue=queue, retention=60).id for _ in range(6)]

        def results() -> list[bytes] | None:
            infos = [inspector.get_task_info(queue, i) for i in ids]
            done = all(info.state is TaskState.COMPLETED for info in infos)
            return [info.result or b"" for info in infos] if done else None

        assert wait_for(results, timeout=20, what="six results") == [module] * 6
        wait_for(lambda: inspector.get_queue_info(queue).processed >= 8, timeout=20, what="two ticks run")
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err
    assert err.count(f"event loop {loop}".encode()) == 2, err  # each worker's "started" line
    assert b"Traceback" not in err
