"""Failures: one line on stderr, the documented exit code, no traceback; and escaped Redis data."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest
from seed import message, seed_task

from asynq_py.cli.errors import EXIT_CODES, ExitCode, classify
from asynq_py.engine import (
    BrokerError,
    DecodeError,
    DuplicateTaskError,
    Inspector,
    QueueNotEmptyError,
    QueueNotFoundError,
    RedisUnavailableError,
    TaskIdConflictError,
    TaskNotFoundError,
    TaskStateError,
    ValidationError,
)

pytestmark = pytest.mark.real

RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x9b", "\u202e")


def test_every_code_is_documented_once():
    assert [code for code, _ in EXIT_CODES] == list(ExitCode)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ValidationError("bad"), 2),
        (QueueNotFoundError("q", queue="q"), 3),
        (TaskNotFoundError("t"), 3),
        (DuplicateTaskError("dup", queue="q"), 4),
        (TaskIdConflictError("conflict", queue="q", task_id="x"), 4),
        (QueueNotEmptyError("not empty", queue="q"), 4),
        (TaskStateError("active"), 4),
        (RedisUnavailableError("down"), 5),
        (BrokerError("WRONGTYPE"), 5),
        (DecodeError("garbage"), 1),
        (ZeroDivisionError("x"), 1),
    ],
)
def test_engine_errors_map_to_codes(exc, code):
    assert classify(exc)[0] == code
    assert "\n" not in classify(exc)[1]


def test_unreachable_redis(cli):
    run = cli("--redis", "redis://127.0.0.1:1/0", "queues").check(5)
    assert "cannot reach Redis" in run.error
    assert "redis://127.0.0.1:1/0" in run.error
    assert run.stdout == ""


@pytest.fixture
def not_redis() -> Iterator[str]:
    """A TCP server that answers like an HTTP server, then hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{port}/0"
    stop.set()
    thread.join()
    listener.close()


def test_wrong_server(cli, not_redis):
    run = cli("--redis", not_redis, "ls", "pending").check(5)
    assert run.stdout == ""


def test_unexpected_errors_are_one_line_unless_debug(cli, monkeypatch):
    def boom(self):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Inspector, "queues", boom)
    run = cli("queues").check(1)
    assert "internal error: ZeroDivisionError" in run.error
    assert "--debug" in run.error
    debug = cli("--debug", "queues")
    assert debug.exit_code == 1
    assert "Traceback" in debug.stderr
    assert "ZeroDivisionError" in debug.stderr


def test_usage_errors_are_one_line(cli):
    for args in (["nope"], ["ls", "pending", "--nope"], ["ls", "pending", "--limit", "x"], ["ls"]):
        run = cli(*args).check(2)
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert run.stdout == ""


def test_no_arguments_shows_help(cli):
    run = cli().check(2)
    assert "Usage" in run.stdout


def test_control_characters_from_redis_are_escaped(cli, r):
    evil = "\x1b]0;pwned\x07\x1b[2J\rX\x9b1m\u202eevil"
    msg = message("job", evil.encode(), error_msg=evil)
    seed_task(r, msg, "archived")
    seed_task(r, message("job", b"\x1b[31m not utf-8 \xff"), "pending")
    outputs = [
        cli("ls", "archived").check().stdout,
        cli("ls", "pending").check().stdout,
        cli("ls", "archived", "--json").check().stdout,
        cli("inspect", msg.id).check().stdout,
        cli("inspect", msg.id, "--json").check().stdout,
    ]
    for out in outputs:
        assert not any(ch in out for ch in RAW_CONTROLS), repr(out)
    assert "\\x1b]0;pwned\\x07" in outputs[3]
    assert "non-printable bytes" in outputs[1]
    record = json.loads(outputs[4])
    assert record["payload"] == evil  # escaping in JSON is lossless
    assert record["last_error"] == evil


def test_error_messages_are_escaped(cli, r):
    run = cli("inspect", "a\x1b[2Jb").check(3)
    assert "\x1b" not in run.stderr
    assert "\\x1b[2J" in run.stderr
