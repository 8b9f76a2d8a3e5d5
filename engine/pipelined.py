"""``PipelinedConnection``: the asyncio twin of ``resp.BlockingConnection``, on one connection.

Every command sent while the event loop runs one step goes out in one write, and replies are
matched to their callers in order. Concurrent callers therefore share round trips without waiting
for each other (auto-pipelining), and a lone caller pays one round trip with less Python around it
than redis-py's asyncio client, which checks a connection out of a pool and arms a timeout per
command.

Replies and failures are those of ``resp`` (``ReplyError``, ``ConnectionLost``, ``NoReply``). This
module is apart from ``resp`` so that the blocking connection, which the command line uses, does
not import asyncio.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import socket
import time
from typing import TYPE_CHECKING, Any, cast

import hiredis

from .resp import (
    ConnectionLost,
    NoReply,
    check_handshake,
    handshake_commands,
    pack,
    reply_value,
    set_tcp_options,
    ssl_context,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Sequence

    from .calls import Arg
    from .config import RedisConnOpt

__all__ = ["PipelinedConnection"]

_current_task = asyncio.current_task


_EARLY_FLUSH = 16
"""Commands after which a write goes out before the loop step ends: the server starts on them
while the loop builds the rest, rather than the two taking turns (100 enqueuers: about 1.5x)."""

_EARLY_FLUSH_BYTES = 4096
"""The same in bytes, for a few large commands (a coalesced batch of enqueues is one)."""


class _Reply:
    """The replies one ``execute`` waits for: taken from the stream, then awaited by its caller.

    An ``asyncio.Future`` hands its waiting task to the loop (``call_soon``): after the reply is
    read, the loop runs one more step, with one more ``epoll_wait``, before the task goes on. This
    one, resolved from ``data_received`` (a loop callback, never inside a task), resumes the task
    right there. It speaks the protocol a ``Task`` uses for what it awaits (``get_loop``,
    ``add_done_callback``, ``result``, ``cancel``), yet is no future until awaited
    (``_asyncio_future_blocking`` is None), so ``gather`` and ``ensure_future`` wrap it as any
    awaitable.
    """

    __slots__ = (
        "_asyncio_future_blocking",
        "_callback",
        "_context",
        "_error",
        "_loop",
        "count",
        "done",
        "replies",
        "sent_at",
        "wait",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int, sent_at: float, wait: bool) -> None:
        self._loop = loop
        self._asyncio_future_blocking: bool | None = None
        self._callback: Callable[[_Reply], object] | None = None
        self._context: contextvars.Context | None = None
        self._error: BaseException | None = None
        self.done = False
        """Whether the replies (or an error) came."""
        self.count = count
        """Replies to take from the stream."""
        self.replies: list[Any] = []
        self.sent_at = sent_at
        self.wait = wait
        """True when the call ends with a ``WAIT`` whose reply comes from a ``_SharedWait``."""

    def take(self, reply: Any) -> bool:
        """Add a reply from the stream; True once this entry has taken all of its own."""
        self.replies.append(reply)
        return len(self.replies) >= self.count

    def finish(self) -> None:
        """Hand the replies over, once all came (a call ending in ``WAIT`` waits for its reply)."""
        if not self.wait:
            self.resolve()

    def resolve(self) -> None:
        """The replies came (in ``data_received``): the waiting task resumes before this returns."""
        if not self.done:
            self.done = True
            self._wake(now=True)

    def fail(self, exc: BaseException) -> None:
        """The call failed: the waiting task resumes with ``exc`` in the loop's next step."""
        if not self.done:
            self._error, self.done = exc, True
            self._wake(now=False)

    def __await__(self) -> Generator[_Reply, None, list[Any]]:
        if not self.done:
            self._asyncio_future_blocking = True
            yield self  # the Task calls add_done_callback, then resumes us through result()
        return self.result()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def add_done_callback(
        self, callback: Callable[[_Reply], object], *, context: contextvars.Context | None = None
    ) -> None:
        # Only the awaiting Task calls this, once, while the replies are still to come.
        self._callback, self._context = callback, context or contextvars.copy_context()
        if self.done:
            self._wake(now=False)

    def result(self) -> list[Any]:
        if self._error is not None:
            raise self._error
        return self.replies

    def cancel(self, msg: object = None) -> bool:
        """Called by the awaiting Task when it is cancelled: it resumes with ``CancelledError``."""
        if self.done:
            return False
        self.fail(asyncio.CancelledError() if msg is None else asyncio.CancelledError(msg))
        return True

    def _wake(self, now: bool) -> None:
        callback, context = self._callback, self._context
        if callback is None or context is None:  # not awaited yet
            return
        self._callback = self._context = None
        if now and _current_task(self._loop) is None:
            # Outside any task (data_received is a loop callback): the waiting task runs now,
            # rather than in the loop's next step. Never from cancel(): whoever cancels (a
            # timeout's callback, say) expects the task to run only after it returns.
            context.run(callback, self)
        else:
            self._loop.call_soon(callback, self, context=context)


class _SharedWait:
    """One ``WAIT`` sent after every write of a flush, its reply given to each call that asked.

    Redis runs a blocked client's later commands only once its ``WAIT`` returns, so 100 calls each
    ending in its own ``WAIT`` would wait one after another (a timeout each when replicas are
    missing). A ``WAIT`` sent after all of the flush's writes counts the replicas that have every
    one of them, which is what each call asked about its own.
    """

    __slots__ = ("calls", "command", "sent_at")

    def __init__(self, command: tuple[Arg, ...]) -> None:
        self.command = command
        self.calls: list[_Reply] = []
        self.sent_at = 0.0

    def take(self, reply: Any) -> bool:
        for call in self.calls:
            call.replies.append(reply)
        return True

    def finish(self) -> None:
        for call in self.calls:
            call.resolve()

    def fail(self, exc: BaseException) -> None:
        for call in self.calls:
            call.fail(exc)


def _is_wait(command: tuple[Arg, ...]) -> bool:
    name = command[0]
    return isinstance(name, str) and name.upper() == "WAIT"


class _Protocol(asyncio.Protocol):
    """Writes packed commands once per loop step and hands replies to waiters in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float | None) -> None:
        self.loop = loop
        """The event loop the connection lives on."""
        self._timeout_s = timeout_s
        self._reader = hiredis.Reader()
        self._transport: asyncio.Transport | None = None
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._waits: dict[tuple[Arg, ...], _SharedWait] = {}
        self._flush_scheduled = False
        self._waiting: collections.deque[_Reply | _SharedWait] = collections.deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._last_reply = 0.0
        self.broken: BaseException | None = None
        """Why the connection can no longer be used, once it cannot."""
        self.ends_with_loop: AsyncGenerator[None, None] | None = None
        """``_closed_at_loop_end`` for this connection, kept suspended while the connection lives."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast("asyncio.Transport", transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            set_tcp_options(sock, self._timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionLost(f"connection to Redis lost: {exc or 'closed by the server'}"))

    def data_received(self, data: bytes) -> None:
        self._last_reply = time.monotonic()
        reader = self._reader
        reader.feed(data)
        waiting = self._waiting
        answered: list[_Reply | _SharedWait] = []
        failure = None
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                failure = ConnectionLost(f"Redis protocol error: {exc}")
                break
            if reply is False:
                break
            if not waiting:
                failure = ConnectionLost("Redis sent a reply nobody asked for")
                break
            if waiting[0].take(reply_value(reply)):
                answered.append(waiting.popleft())
        # Their tasks resume here, once the stream is read: one may send, or close the connection.
        for entry in answered:
            entry.finish()
        if failure is not None:
            self._fail(failure)

    def send(self, commands: Sequence[tuple[Arg, ...]]) -> _Reply:
        """Queue ``commands`` for the next write; await the result for their replies."""
        wait = bool(commands) and _is_wait(commands[-1])
        own = commands[:-1] if wait else commands
        reply = _Reply(self.loop, len(own), time.monotonic(), wait)
        if self.broken is not None:
            reply.fail(self.broken)
            return reply
        if own:
            packed = [pack(c) for c in own]
            self._out.extend(packed)
            self._out_bytes += sum(map(len, packed))
            self._waiting.append(reply)
        if wait:
            shared = self._waits.get(commands[-1])
            if shared is None:
                shared = self._waits[commands[-1]] = _SharedWait(commands[-1])
            shared.calls.append(reply)
        if not self._waits and (
            len(self._out) >= _EARLY_FLUSH or self._out_bytes >= _EARLY_FLUSH_BYTES or len(self._waiting) == 1
        ):
            # A call with nothing ahead of it goes out at once (a lone caller saves a loop step);
            # calls made while it is answered gather in one write. (Calls ending in WAIT wait for
            # the step's end, so that they share one WAIT.)
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)
        return reply

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.broken is not None or self._transport is None or not (self._out or self._waits):
            return
        if self._waits:
            now = time.monotonic()
            for shared in self._waits.values():
                shared.sent_at = now
                self._out.append(pack(shared.command))
                self._waiting.append(shared)
            self._waits.clear()
        self._transport.write(b"".join(self._out))
        self._out.clear()
        self._out_bytes = 0
        if self._watchdog is None and self._timeout_s is not None:
            self._watchdog = self.loop.call_later(self._timeout_s, self._check_timeout)

    def _check_timeout(self) -> None:
        # One timer per connection rather than one per command: the oldest unanswered command
        # decides whether the server has gone quiet for longer than the socket timeout.
        self._watchdog = None
        if not self._waiting or self._timeout_s is None:
            return
        # Silence is measured from the later of the oldest command's send and the last reply: a
        # command queued behind a blocking one (WAIT) is not late while replies keep coming.
        since = max(self._waiting[0].sent_at, self._last_reply)
        overdue = since + self._timeout_s - time.monotonic()
        if overdue <= 0:
            self._fail(NoReply(f"no reply from Redis within {self._timeout_s:g}s"))
            return
        self._watchdog = self.loop.call_later(overdue, self._check_timeout)

    def _fail(self, exc: BaseException) -> None:
        if self.broken is None:
            self.broken = exc
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._waiting:
            self._waiting.popleft().fail(exc)
        for shared in self._waits.values():
            shared.fail(exc)
        self._waits.clear()
        self._out.clear()
        self._out_bytes = 0
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        """Close the connection; commands in flight fail."""
        self._fail(ConnectionLost("connection closed"))


async def _closed_at_loop_end(protocol: _Protocol) -> AsyncGenerator[None, None]:
    """Closes ``protocol`` when its event loop shuts down (the end of ``asyncio.run``).

    A transport can only be closed by its own loop: once the loop is closed, ``close()`` cannot
    close the socket, which then stays open in a reference cycle until the garbage collector warns
    about it. A loop that shuts down closes the async generators it started, this one included.
    """
    try:
        yield
    finally:
        protocol.close()


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a failed opening's error as seen (its callers may all have been cancelled)."""
    if not task.cancelled():
        task.exception()


class PipelinedConnection:
    """One connection to a standalone Redis, opened on first use and reopened after a failure.

    Args:
        opt: Where and how to connect (TCP or Unix socket, TLS, credentials, database).
    """

    def __init__(self, opt: RedisConnOpt) -> None:
        self._opt = opt
        self._protocol: _Protocol | None = None
        self._opening: asyncio.Task[_Protocol] | None = None

    def execute(self, commands: Sequence[tuple[Arg, ...]]) -> Awaitable[list[Any]]:
        """Send ``commands`` back to back; await their replies, an error reply as its exception.

        Raises:
            ConnectionLost: the connection could not be made or broke before the replies came.
            NoReply: no reply came within the socket timeout.
        """
        protocol = self._protocol
        if protocol is None or protocol.broken is not None or protocol.loop is not asyncio.get_running_loop():
            return self._connect_and_send(commands)
        return protocol.send(commands)

    async def _connect_and_send(self, commands: Sequence[tuple[Arg, ...]]) -> list[Any]:
        protocol = await self._connect()
        return await protocol.send(commands)

    async def _connect(self) -> _Protocol:
        # One opening shared by every caller that needs it; they all go on in the same loop step
        # (a lock would let them through one per step, and the first burst would not pipeline).
        loop = asyncio.get_running_loop()
        opening = self._opening
        if opening is None or opening.done() or opening.get_loop() is not loop:
            if self._protocol is not None and self._protocol.loop is not loop:
                self.close()
            opening = self._opening = loop.create_task(self._open())
            opening.add_done_callback(_retrieve)
        return await asyncio.shield(opening)

    async def _open(self) -> _Protocol:
        opt = self._opt
        loop = asyncio.get_running_loop()

        def factory() -> _Protocol:
            return _Protocol(loop, opt.socket_timeout_s)

        try:
            async with asyncio.timeout(opt.connect_timeout_s):
                if opt.unix_socket:
                    _, protocol = await loop.create_unix_connection(factory, opt.unix_socket)
                else:
                    tls = ssl_context(opt) if opt.tls else None
                    _, protocol = await loop.create_connection(factory, opt.host, opt.port, ssl=tls)
        except TimeoutError as exc:
            raise NoReply(f"timed out connecting to {opt.redacted_url()}") from exc
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to {opt.redacted_url()}: {exc}") from exc
        handshake = handshake_commands(opt)
        if handshake:
            try:
                check_handshake(handshake, await protocol.send(handshake))
            except BaseException:
                protocol.close()
                raise
        protocol.ends_with_loop = _closed_at_loop_end(protocol)
        await anext(protocol.ends_with_loop)
        # Kept here, not by the callers: if they were all cancelled meanwhile, close() must still
        # find this connection (else it is left open until the garbage collector warns about it).
        self._protocol = protocol
        return protocol

    def close(self) -> None:
        """Close the connection (calls in flight fail with ``ConnectionLost``)."""
        opening, self._opening = self._opening, None
        with contextlib.suppress(RuntimeError):  # its event loop may be closed already
            if opening is not None and not opening.done():
                opening.cancel()
            if self._protocol is not None:
                self._protocol.close()
        self._protocol = None
