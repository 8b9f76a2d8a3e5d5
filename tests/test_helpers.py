"""The shared test helpers: bounded waits that report what they waited for, unique names, and the
guard against sockets a test leaves open."""

from __future__ import annotations

import itertools
import socket

import pytest
from helpers import unique_queue, wait_for, wait_for_async
from socket_guard import SocketGuard


def test_wait_for_returns_the_first_truthy_value() -> None:
    calls = itertools.count()
    assert wait_for(lambda: next(calls) >= 2 and "ready", timeout=5, interval=0) == "ready"


def test_wait_for_re_raises_the_last_exception_on_timeout() -> None:
    attempts: list[int] = []

    def check() -> bool:
        attempts.append(len(attempts))
        raise KeyError(f"attempt {len(attempts)}")

    with pytest.raises(KeyError, match="attempt") as caught:
        wait_for(check, timeout=0.1, what="the key", interval=0.01)
    assert len(attempts) > 1
    assert caught.value.args == (f"attempt {len(attempts)}",)
    assert caught.value.__notes__ == ["timed out after 0.1s waiting for the key"]


def test_wait_for_names_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0.05s waiting for the queue \(last: \[\]\)"):
        wait_for(list, timeout=0.05, what="the queue", interval=0.01)


def test_an_exception_then_a_falsy_value_times_out_without_the_old_exception() -> None:
    results = iter([ValueError("early")])

    def check() -> int:
        for item in results:
            raise item
        return 0

    with pytest.raises(AssertionError, match="waiting for zero"):
        wait_for(check, timeout=0.05, what="zero", interval=0.01)


async def test_wait_for_async_lets_the_loop_run() -> None:
    pauses: list[float] = []

    async def pause(delay: float) -> None:
        pauses.append(delay)

    assert await wait_for_async(lambda: len(pauses) == 3, timeout=5, interval=0.5, pause=pause) is True
    assert pauses == [0.5, 0.5, 0.5]


async def test_wait_for_async_re_raises_the_last_exception() -> None:
    with pytest.raises(ZeroDivisionError):
        await wait_for_async(lambda: 1 / 0, timeout=0.05, interval=0.01)


def test_unique_queue_names_differ() -> None:
    names = {unique_queue("cron") for _ in range(100)}
    assert len(names) == 100
    assert all(name.startswith("cron-") for name in names)


def test_the_socket_guard_names_the_sockets_an_owner_left_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "__init__", socket.socket.__init__)  # conftest's guard, put back
    guard = SocketGuard()
    guard.install()
    guard.owner = "a test"
    with socket.socket():
        pass
    left = socket.socket()
    guard.owner = None
    untracked = socket.socket()
    try:
        (found,) = guard.left_open("a test")
        assert found.startswith(repr(left))
        assert "tests/test_helpers.py:" in found
        assert "in test_the_socket_guard_names_the_sockets_an_owner_left_open" in found
        assert guard.left_open("another test") == []
    finally:
        left.close()
        untracked.close()
    assert guard.left_open("a test") == []
