"""Helpers shared by every test package: bounded waits and unique names.

Imported as ``from helpers import wait_for`` (``pythonpath = ["tests"]``).
"""

from __future__ import annotations

import asyncio
import enum
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from typing import Final, Literal, TypeVar

import redis

T = TypeVar("T")


class _NotYet(enum.Enum):
    TOKEN = enum.auto()


_NOT_YET: Final = _NotYet.TOKEN


def cancel_subscribers(client: redis.Redis) -> int:
    """How many connections listen on ``asynq:cancel`` (``PUBSUB NUMSUB``): servers ready to cancel."""
    ((_, count),) = client.pubsub_numsub("asynq:cancel")
    return int(count)


def unique_queue(prefix: str = "q") -> str:
    """A queue name no other test uses: tests share a server and are isolated by name."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class _Poll:
    """One bounded wait: calls a check until it returns something truthy or time runs out."""

    def __init__(self, timeout: float, what: str) -> None:
        self.timeout = timeout
        self.what = what
        self.deadline = time.monotonic() + timeout
        self.last_error: Exception | None = None
        self.last_value: object = None

    def attempt(self, check: Callable[[], T | None]) -> T | Literal[_NotYet.TOKEN]:
        """Run ``check`` once: its value if truthy, else ``_NOT_YET`` (an exception is kept)."""
        try:
            value = check()
        except Exception as exc:
            self.last_error = exc
            return _NOT_YET
        self.last_error = None
        self.last_value = value
        return value if value else _NOT_YET

    def give_up(self) -> None:
        """Raise if the deadline passed: the check's last exception, or an AssertionError."""
        if time.monotonic() <= self.deadline:
            return
        message = f"timed out after {self.timeout:g}s waiting for {self.what}"
        if self.last_error is not None:
            self.last_error.add_note(message)
            raise self.last_error
        raise AssertionError(f"{message} (last: {self.last_value!r})")


def wait_for(
    check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition", *, interval: float = 0.05
) -> T:
    """Call ``check`` until it returns something truthy and return that value.

    An exception from ``check`` means "not yet"; on timeout the last one is re-raised (with a
    note saying what was awaited), otherwise an ``AssertionError`` names ``what``.
    """
    poll = _Poll(timeout, what)
    while True:
        value = poll.attempt(check)
        if value is not _NOT_YET:
            return value
        poll.give_up()
        time.sleep(interval)


async def wait_for_async(
    check: Callable[[], T | None],
    *,
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = 0.05,
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """``wait_for`` for a coroutine: ``pause`` (``asyncio.sleep``, or a Pilot's) lets the loop run."""
    poll = _Poll(timeout, what)
    while True:
        value = poll.attempt(check)
        if value is not _NOT_YET:
            return value
        poll.give_up()
        await pause(interval)


def probe(url: str) -> tuple[int, str]:
    """GET ``url``: its status and body, the error's for an HTTP error, ``(0, "")`` when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return 0, ""


def stop(proc: subprocess.Popen[bytes]) -> bytes:
    """SIGTERM a process a test started, wait for it (killing it after 30 s) and return its stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return err


def in_forked_child(work: Callable[[], str]) -> str:
    """Run ``work`` in a forked child of this process and return the string it returned."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        try:
            os.close(read_end)
            os.write(write_end, work().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        out = pipe.read().decode()
    assert os.waitpid(pid, 0)[1] == 0
    return out
