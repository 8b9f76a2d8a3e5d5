"""Logs of ``serve``: ``--log-format json`` (or the config key) gives one JSON object a line with the
task's fields; control characters from task data are escaped in both formats."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from asynq_py.cli.logfmt import JsonFormatter, TextFormatter
from asynq_py.engine import Client, Inspector, Task

from .conftest import ASYNQ_PY

EVIL = 'bad\n{"level": "error", "message": "forged"}\x1b[31m\u2028end'

APP = """
from asynq_py.engine import ServeMux

mux = ServeMux()


@mux.handle_func("evil:")
def fail(ctx, task):
    raise RuntimeError(task.payload.get_string("text"))
"""


def record(**extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("asynq_py", logging.ERROR, __file__, 1, "task %s failed: %s", ("t1", EVIL), None)
    rec.__dict__.update(extra)
    return rec


def test_json_lines_carry_task_fields_and_escape_controls() -> None:
    line = JsonFormatter().format(record(queue="q", task_id="t1", task_type="evil:\x07", retry=2))
    assert "\n" not in line
    assert line.isascii()
    doc = json.loads(line)
    assert doc["message"] == f"task t1 failed: {EVIL}"
    assert (doc["level"], doc["queue"], doc["task_id"], doc["task_type"], doc["retry"]) == (
        "error", "q", "t1", "evil:\x07", 2,
    )  # fmt: skip
    assert {"time", "logger", "worker", "pid"} <= set(doc)
    assert "queue" not in json.loads(JsonFormatter().format(record()))


def test_text_lines_escape_controls() -> None:
    line = TextFormatter().format(record())
    assert "\n" not in line
    assert "\x1b" not in line
    assert "\u2028" not in line
    assert "\\n" in line
    assert "\\x1b[31m" in line
    assert "ERROR" in line


def wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)
    return value


@pytest.mark.real
@pytest.mark.parametrize("how", ["flag", "config"])
def test_serve_writes_json_lines(env, tmp_path: Path, client: Client, inspector: Inspector, how: str) -> None:
    app = tmp_path / "evilapp.py"
    app.write_text(APP)
    args = [ASYNQ_PY]
    if how == "config":
        config = tmp_path / "config.toml"
        config.write_text('log_format = "json"\n')
        args += ["--config", str(config)]
    args += ["serve", f"{app}:mux", "-q", "logs", "--shutdown-timeout", "1s"]
    if how == "flag":
        args += ["--log-format", "json"]
    proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        info = client.enqueue(Task("evil:x", {"text": EVIL}), queue="logs", max_retry=3)
        wait_for(lambda: inspector.get_queue_info("logs").retry == 1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    docs = [json.loads(line) for line in err.decode().splitlines()]  # every line parses
    failed = [d for d in docs if d.get("task_id") == info.id]
    assert failed
    assert failed[0]["level"] == "error"
    assert (failed[0]["queue"], failed[0]["task_type"], failed[0]["retry"]) == ("logs", "evil:x", 0)
    assert EVIL in failed[0]["message"]
    assert b"\x1b" not in err
    assert any(d["message"].startswith("asynq-py server") for d in docs)


def test_bad_log_format_is_refused(cli, tmp_path: Path) -> None:
    assert cli("serve", "x:y", "--log-format", "xml").check(2)
    config = tmp_path / "c.toml"
    config.write_text('log_format = "xml"\n')
    bad = cli("--config", str(config), "config", "show")
    assert bad.exit_code == 2
    assert "log_format" in bad.stderr
    config.write_text('log_format = "json"\n')
    shown = json.loads(cli("--config", str(config), "config", "show", "--json").check().stdout)
    assert (shown["log_format"], shown["log_format_source"]) == ("json", "config file")


def test_scheduler_takes_the_log_format_too(cli) -> None:
    assert "--log-format" in cli("scheduler", "--log-format", "yaml").check(2).stderr


def test_warnings_and_stray_exceptions_become_json_lines() -> None:
    code = """
import gc, threading, warnings
from asynq_py.cli.logfmt import configure_logging
configure_logging("info", "json")
warnings.warn("careful\\nnow")
t = threading.Thread(target=lambda: 1 / 0, name="doomed"); t.start(); t.join()
class Bad:
    def __del__(self):
        raise ValueError("in del")
Bad(); gc.collect()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    docs = [json.loads(line) for line in done.stderr.splitlines()]
    assert [d["level"] for d in docs] == ["warning", "error", "error"], done.stderr
    assert "careful\nnow" in docs[0]["message"]
    assert "ZeroDivisionError" in docs[1]["error"]
    assert "ValueError: in del" in docs[2]["error"]
