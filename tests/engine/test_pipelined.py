"""``pipelined``'s protocol on a transport of our own (no Redis): when a waiting caller resumes, how
cancellation and timeouts reach it, and when queued commands are written."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
import uvloop

from asynq_py.engine.pipelined import _EARLY_FLUSH_BYTES, _Protocol

T = TypeVar("T")

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


class FakeTransport:
    """Records what the protocol writes; the test plays the server through ``data_received``."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str) -> None:
        return None


def run(loop_name: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        return runner.run(asyncio.wait_for(main(), 10))


def connected() -> tuple[_Protocol, FakeTransport]:
    protocol = _Protocol(asyncio.get_running_loop(), 5.0)
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_reply_resumes_its_caller_before_data_received_returns(loop_name: str) -> None:
    # An asyncio.Future would leave the caller to the loop's next step: one more epoll_wait per call.
    async def main() -> list[str]:
        protocol, _ = connected()
        seen: list[str] = []

        async def caller() -> None:
            seen.append(f"got {await protocol.send([('GET', 'k')])}")

        task = asyncio.get_running_loop().create_task(caller())
        await asyncio.sleep(0)  # the caller sends and waits
        done = asyncio.get_running_loop().create_future()

        def reply_arrives() -> None:  # as the transport calls it: a loop callback, not a task
            protocol.data_received(b"$1\r\nv\r\n")
            seen.append("data_received returned")
            done.set_result(None)

        asyncio.get_running_loop().call_soon(reply_arrives)
        await done
        await task
        return seen

    assert run(loop_name, main) == ["got [b'v']", "data_received returned"]


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_caller_that_times_out_gets_timeout_error_and_the_next_caller_its_own_reply(loop_name: str) -> None:
    # Cancelling must not resume the caller inside cancel(): asyncio.timeout turns the cancellation
    # into TimeoutError only once its callback has returned.
    async def main() -> tuple[bool, list[Any], bool]:
        protocol, _ = connected()
        timed_out = False
        try:
            async with asyncio.timeout(0.05):
                await protocol.send([("BLPOP", "k", 0)])
        except TimeoutError:
            timed_out = True
        later = protocol.send([("GET", "k")])
        protocol.data_received(b"*-1\r\n$1\r\nv\r\n")  # the late reply is dropped, the next one kept
        return timed_out, await later, protocol.broken is None

    assert run(loop_name, main) == (True, [b"v"], True)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_cancelled_caller_gets_cancelled_error_and_its_reply_is_dropped(loop_name: str) -> None:
    async def main() -> tuple[bool, list[Any]]:
        protocol, _ = connected()
        waiting = asyncio.ensure_future(_await(protocol.send([("GET", "k")])))
        await asyncio.sleep(0)
        waiting.cancel()
        try:
            await waiting
        except asyncio.CancelledError:
            cancelled = True
        else:
            cancelled = False
        later = protocol.send([("GET", "k2")])
        protocol.data_received(b"$1\r\na\r\n$1\r\nb\r\n")
        return cancelled, await later

    assert run(loop_name, main) == (True, [b"b"])


async def _await(awaitable: Any) -> Any:
    return await awaitable


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_lost_connection_fails_its_waiting_callers(loop_name: str) -> None:
    async def main() -> list[str]:
        protocol, _ = connected()
        calls = [asyncio.ensure_future(_await(protocol.send([("GET", f"k{i}")]))) for i in range(3)]
        await asyncio.sleep(0)
        protocol.connection_lost(None)
        results = await asyncio.gather(*calls, return_exceptions=True)
        return [type(r).__name__ for r in results]

    assert run(loop_name, main) == ["ConnectionLost"] * 3


@pytest.mark.parametrize("loop_name", LOOPS)
def test_large_commands_are_written_before_the_loop_step_ends(loop_name: str) -> None:
    # Small commands queued behind one in flight wait for the step's end (or 16 of them); a few
    # large ones (a coalesced batch of enqueues) go out as soon as they fill a write, so that the
    # server works on them while the loop builds the rest.
    async def main() -> tuple[int, int, int]:
        protocol, transport = connected()
        protocol.send([("PING",)])  # nothing ahead of it: written at once
        first = len(transport.writes)
        protocol.send([("SET", "small", "v")])
        small = len(transport.writes)
        protocol.send([("SET", "large", "v" * _EARLY_FLUSH_BYTES)])
        return first, small, len(transport.writes)

    assert run(loop_name, main) == (1, 1, 2)
