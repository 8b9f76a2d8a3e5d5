"""The code that runs plans (see ``calls``): on ``resp``'s own connections, or on redis-py.

``Broker`` blocks and ``AsyncBroker`` awaits; both run the same plans. A standalone server named by
a URL or ``RedisConnOpt`` (the embedded default, ``redis://``, ``rediss://``, ``redis-socket://``)
is reached through ``resp`` alone; a Redis Cluster, Sentinel, or a redis-py client given goes
through ``redispy``, which is imported only then (and for Pub/Sub). Errors never leave this module
as they came: they become ``RedisUnavailableError`` (worth retrying: unreachable, or a cluster
between owners) or ``BrokerError``, with what Redis said as their ``__cause__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Union

from .calls import Arg, Batch, Call, Command, EachPrimary, Plan, Script, T, raise_failed
from .config import RedisConnOpt
from .errors import AsynqError, BrokerError, RedisAuthError, RedisUnavailableError
from .resp import AuthError, BlockingConnection, ReplyError
from .scripts import all_scripts, script
from .settings import default_conn_opt

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Coroutine, Sequence

    import redis
    import redis.asyncio as aredis

    from .pipelined import PipelinedConnection
    from .redispy import AsyncLink, SyncLink

__all__ = ["AsyncBroker", "Broker", "RedisLike"]

# A Union of strings, so that naming redis-py's classes does not import redis-py.
RedisLike = Union[
    str, RedisConnOpt, "redis.Redis", "aredis.Redis", "redis.RedisCluster", "aredis.RedisCluster"
]
"""What ``Client``, ``Inspector`` and ``Server`` accept as their Redis: a URL, options or a client."""

_RESP_ERRORS = (OSError, ReplyError)
"""What ``resp`` raises: a connection that failed or broke, or an error reply to its handshake."""

_UNBLOCK_TRIES = 20
"""How often ``unblock`` asks, 1 ms apart, while the wait's BLPOP has not reached Redis yet."""

_BUSY = frozenset({"LOADING", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "MOVED", "ASK"})
"""Error codes of a server that cannot serve now but may soon (restarting, demoted, failing over)."""


def _translate(exc: Exception, call: Command | Script | None = None) -> AsynqError:
    """The engine's error for a Redis one, keeping Redis's own error as its ``__cause__``."""
    if isinstance(exc, AsynqError):
        return exc
    translated = _translated(exc, call)
    translated.__cause__ = exc
    return translated


def _translated(exc: Exception, call: Command | Script | None) -> AsynqError:
    what = None if call is None else _what(call)
    if isinstance(exc, AuthError):
        return RedisAuthError("Redis refused the credentials (authentication failed)")
    if isinstance(exc, ReplyError):
        if exc.code == "NOPERM" and what is not None:
            return BrokerError(f"Redis denied {what}: {exc}")
        if exc.code in _BUSY:
            return RedisUnavailableError(f"Redis cannot serve this now, retry: {exc}")
        return BrokerError(str(exc))
    if isinstance(exc, OSError):
        return RedisUnavailableError(f"cannot reach Redis: {exc}")
    from .redispy import translated  # what is left came from redis-py, which is loaded then

    return translated(exc, what)


def _what(call: Command | Script) -> str:
    return f"script {call.name}" if isinstance(call, Script) else " ".join(str(a) for a in call.args[:2])


def _standalone(target: RedisLike) -> RedisConnOpt | None:
    """The options of a standalone Redis that a broker connects to itself, else None.

    Calls to such a server go through ``resp``'s lean connections; a cluster (slot routing),
    Sentinel (failover) or a client passed in goes through redis-py.
    """
    if not isinstance(target, str | RedisConnOpt):
        return None
    opt = RedisConnOpt.from_url(target) if isinstance(target, str) else target
    if opt.tls and opt.tls_insecure:
        import logging

        logging.getLogger("asynq_py").warning(
            "TLS certificate verification is off for %s: anyone on the path can read and change tasks",
            opt.redacted_url(),
        )
    if opt.cluster_addrs or opt.sentinel_addrs:
        return None
    return opt


def _script_loads() -> list[tuple[Arg, ...]]:
    return [("SCRIPT", "LOAD", lua.source) for lua in all_scripts().values()]


def _wire_args(call: Command | Script) -> tuple[Any, ...]:
    if isinstance(call, Command):
        return call.args
    return ("EVALSHA", script(call.name).sha, len(call.keys), *call.keys, *call.args)


def _is_noscript(reply: Any) -> bool:
    return isinstance(reply, ReplyError) and reply.code == "NOSCRIPT"


def _reload_indexes(
    replies: Sequence[Any], calls: Sequence[Command | Script], noscript: Callable[[Any], bool]
) -> list[int]:
    """The calls to send again once the scripts are loaded: those refused with NOSCRIPT, and every
    ``WAIT`` after the first of them, since a WAIT vouches only for the writes sent before it."""
    redo = [i for i, r in enumerate(replies) if noscript(r)]
    if not redo:
        return redo
    waits = [
        i
        for i, c in enumerate(calls)
        if i > redo[0] and isinstance(c, Command) and str(c.args[0]).upper() == "WAIT"
    ]
    return sorted({*redo, *waits})


def _one(call: Call) -> Plan[Any]:
    """The plan of one call: its reply, or its error raised."""
    return (yield call)


def _sent_in_order(sent: Awaitable[list[Any]]) -> Awaitable[list[Any]]:
    """``sent``, to be awaited after an ``execute`` just made on the same connection.

    Connected, ``execute`` has queued the commands already, and the reply is awaited as it is: it
    resumes its task from the socket's read, rather than through a task of its own that would wake
    the caller a loop step later (the latency of an idle wake-up). Still connecting, the commands
    go out when the connection opens: a task, queued behind the earlier call's, keeps them in order.
    """
    import asyncio  # here, as in _load_scripts: the blocking Broker's users never load it

    return asyncio.ensure_future(sent) if asyncio.iscoroutine(sent) else sent


def _seen(future: asyncio.Future[Any]) -> None:
    """Mark a reply nobody awaited as read (a wait's ``CLIENT ID`` that no ``unblock`` needed)."""
    if not future.cancelled():
        future.exception()


def _woken(reply: Any) -> str | AsynqError | None:
    """What a BLPOP's reply says: the list whose token came, None if the wait timed out, or an error."""
    if reply is None or isinstance(reply, AsynqError):
        return reply
    key = reply[0]
    return key.decode() if isinstance(key, bytes) else str(key)


def _result(call: Command | Script | Batch, replies: Sequence[Any]) -> Any:
    """A batch's replies with errors translated, or a single call's reply (raised if an error)."""
    if isinstance(call, Batch):
        pairs = zip(replies, call.calls, strict=True)
        return [_translate(r, c) if isinstance(r, Exception) else r for r, c in pairs]
    reply = replies[0]
    if isinstance(reply, Exception):
        raise _translate(reply, call) from reply
    return reply


class Broker:
    """Runs plans on ``resp``'s blocking connections to a standalone Redis, or on redis-py."""

    def __init__(self, target: RedisLike | None) -> None:
        if target is None:  # resolved as the asynq-py command line resolves it
            target = default_conn_opt()
        self._target = target
        opt = _standalone(target)
        self._direct = None if opt is None else BlockingConnection(opt)
        self._link: SyncLink | None = None
        self._errors: tuple[type[Exception], ...] = _RESP_ERRORS
        self._noscript: Callable[[Any], bool] = _is_noscript
        if opt is None:
            from . import redispy

            self._link = redispy.SyncLink(target, _wire_args)
            self._errors, self._noscript = redispy.ERRORS, redispy.is_noscript

    @property
    def redis(self) -> redis.Redis | redis.RedisCluster:
        """The underlying redis-py client (made on first use when calls go through ``resp``)."""
        return self._redis_link().client

    def _redis_link(self) -> SyncLink:
        if self._link is None:
            from .redispy import SyncLink

            self._link = SyncLink(self._target, _wire_args)
        return self._link

    def run(self, plan: Plan[T]) -> T:
        """Run ``plan`` to its end and return its result."""
        try:
            call = next(plan)
            while True:
                try:
                    reply = self.execute(call)
                except AsynqError as exc:
                    call = plan.throw(exc)
                else:
                    call = plan.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def execute(self, call: Call) -> Any:
        """Send one call (or one pipelined batch) and return its reply."""
        if isinstance(call, EachPrimary):
            return self._each_primary(call.command)
        calls = call.calls if isinstance(call, Batch) else (call,)
        try:
            replies = self._send(calls)
            redo = _reload_indexes(replies, calls, self._noscript)
            if redo:
                self._load_scripts()
                for i, reply in zip(redo, self._send([calls[i] for i in redo]), strict=True):
                    replies[i] = reply
        except self._errors as exc:
            self._after_error([exc])
            raise _translate(exc, None if isinstance(call, Batch) else call) from exc
        self._after_error(replies)
        return _result(call, replies)

    def _each_primary(self, command: Command) -> dict[str, Any]:
        got = None if self._direct is not None else self._redis_link().each_primary(command)
        if got is None:
            return {"": self.execute(command)}
        return {node: _translate(r, command) if isinstance(r, Exception) else r for node, r in got.items()}

    def _send(self, calls: Sequence[Command | Script]) -> list[Any]:
        if self._direct is not None:
            return self._direct.execute([_wire_args(call) for call in calls])
        return self._redis_link().send(calls)

    def _after_error(self, replies: Sequence[Any]) -> None:
        if self._direct is None:
            self._redis_link().after_error(replies)

    def _load_scripts(self) -> None:
        if self._direct is not None:
            raise_failed(self._direct.execute(_script_loads()))
        else:
            self._redis_link().load_scripts()

    def close(self) -> None:
        """Close the connections this broker made."""
        if self._direct is not None:
            self._direct.close()
        if self._link is not None:
            self._link.close()


class AsyncBroker:
    """Runs plans on ``resp``'s pipelined connection to a standalone Redis, or on asyncio redis-py."""

    def __init__(self, target: RedisLike | None) -> None:
        if target is None:  # resolved as the asynq-py command line resolves it
            target = default_conn_opt()
        self._target = target
        opt = _standalone(target)
        self._opt = opt
        self._pipelined: PipelinedConnection | None = None
        self._waiter: PipelinedConnection | None = None
        """A connection of its own for ``run_after_wake``, whose BLPOP blocks it."""
        if opt is not None:
            # Imported here: pipelined loads asyncio, which the blocking Broker does not need.
            from .pipelined import PipelinedConnection

            self._pipelined = PipelinedConnection(opt)
            self._waiter = PipelinedConnection(opt)
        self._ident: asyncio.Future[list[Any]] | None = None
        """The waiter's ``CLIENT ID`` reply, while a ``run_after_wake`` waits."""
        self.waiting = False
        """Whether a ``run_after_wake`` is waiting (``unblock`` would end it)."""
        self._link: AsyncLink | None = None
        self._errors: tuple[type[Exception], ...] = _RESP_ERRORS
        self._noscript: Callable[[Any], bool] = _is_noscript
        if opt is None:
            from . import redispy

            self._link = redispy.AsyncLink(target, _wire_args)
            self._errors, self._noscript = redispy.ERRORS, redispy.is_noscript
        self._loading: asyncio.Future[None] | None = None

    @property
    def redis(self) -> aredis.Redis | aredis.RedisCluster:
        """The underlying redis-py client (made on first use when calls go through ``resp``)."""
        return self._redis_link().client

    def _redis_link(self) -> AsyncLink:
        if self._link is None:
            from .redispy import AsyncLink

            self._link = AsyncLink(self._target, _wire_args)
        return self._link

    def run(self, plan: Plan[T]) -> Coroutine[Any, Any, T]:
        """Run ``plan`` to its end; the coroutine returns its result."""
        return self._run_from(plan, None)

    async def _run_from(self, plan: Plan[T], call: Call | None) -> T:
        """Run ``plan`` from ``call`` on (from its first call when None) and return its result.

        The calls are sent from here rather than through ``execute``: a lone
        ``AsyncClient.enqueue`` is one coroutine and one awaited reply (docs/benchmarks.md,
        session 4), and ``execute`` runs a one-call plan through here.
        """
        try:
            if call is None:
                call = next(plan)
            while True:
                try:
                    if isinstance(call, EachPrimary):
                        reply = await self._each_primary(call.command)
                    else:
                        calls = call.calls if isinstance(call, Batch) else (call,)
                        try:
                            replies = await self._send(calls)
                            redo = _reload_indexes(replies, calls, self._noscript)
                            if redo:
                                await self._load_scripts()
                                for i, again in zip(
                                    redo, await self._send([calls[i] for i in redo]), strict=True
                                ):
                                    replies[i] = again
                        except self._errors as exc:
                            await self._after_error([exc])
                            raise _translate(exc, None if isinstance(call, Batch) else call) from exc
                        if self._pipelined is None:  # (not awaited otherwise: this runs on every call)
                            await self._after_error(replies)
                        reply = _result(call, replies)
                except AsynqError as exc:
                    call = plan.throw(exc)
                else:
                    call = plan.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    @property
    def can_block(self) -> bool:
        """Whether ``run_after_wake`` is available: a standalone Redis this broker connects to itself.

        On a cluster the wake lists of several queues live in different slots, so one BLPOP cannot
        wait on them all; servers there wait for Pub/Sub wake-ups and poll (docs/wire.md §2.4).
        """
        return self._waiter is not None

    async def run_after_wake(
        self, plan: Plan[T], wake_lists: Sequence[str], timeout_s: float
    ) -> tuple[str | AsynqError | None, T]:
        """Wait until one of ``wake_lists`` gets a token or ``timeout_s`` passes, then run ``plan``.

        The plan's first call is sent with the ``BLPOP``, on a connection of its own, so Redis runs
        it the moment the wait ends: the wake-up costs no round trip of its own. ``unblock`` ends
        the wait early; a plan that makes no call (``rdb.nothing``) makes it a wait alone. Returns
        the wake list whose token ended the wait, None if none did (or Redis's refusal of the wait,
        e.g. an ACL without the wake lists: the plan ran at once, and the caller should stop
        blocking), and the plan's result.

        Raises:
            RedisUnavailableError: the waiting connection broke.
        """
        assert self._waiter is not None
        assert self._opt is not None
        if self._opt.socket_timeout_s is not None:
            # The connection counts a reply slower than the socket timeout as a dead server.
            timeout_s = min(timeout_s, self._opt.socket_timeout_s / 2)
        try:
            call: Call | None = next(plan)
        except StopIteration as stop:  # a plan that makes no call: the wait alone
            call, result = None, stop.value
        assert call is None or isinstance(call, Command | Script), "the first call is a single call"
        import asyncio  # here, as in _load_scripts: the blocking Broker's users never load it

        wait = ("BLPOP", *wake_lists, f"{max(timeout_s, 0.001):.3f}")
        # Sent back to back, with no round trip between: the id lets ``unblock`` end the wait.
        ident = self._ident = asyncio.ensure_future(self._waiter.execute([("CLIENT", "ID")]))
        waiting = [wait] if call is None else [wait, _wire_args(call)]
        got = _sent_in_order(self._waiter.execute(waiting))
        self.waiting = True
        try:
            woken, *replies = await got
        except self._errors as exc:
            raise _translate(exc) from exc
        except asyncio.CancelledError as exc:
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise
            # Not this task: cancel_wait closed the connection while it was being opened.
            raise RedisUnavailableError("the wait was dropped before its connection opened") from exc
        finally:
            self._ident, self.waiting = None, False
            ident.add_done_callback(_seen)
        if isinstance(woken, Exception):
            woken = _translate(woken, Command(wait))
        if call is None:
            return _woken(woken), result
        (reply,) = replies
        if self._noscript(reply):
            return _woken(woken), await self._run_from(plan, call)  # sent again once loaded
        try:
            try:
                result = _result(call, [reply])
            except AsynqError as exc:
                next_call = plan.throw(exc)
            else:
                next_call = plan.send(result)
        except StopIteration as stop:
            return _woken(woken), stop.value
        return _woken(woken), await self._run_from(plan, next_call)

    def cancel_wait(self) -> None:
        """Drop a wait of ``run_after_wake`` with the call queued behind it (it fails with
        ``RedisUnavailableError``): Redis discards a blocked client's unread commands when it
        disconnects. Only a wait that ended at that very moment has run the call."""
        if self.waiting and self._waiter is not None:
            self._waiter.close()

    async def unblock(self) -> None:
        """End a wait of ``run_after_wake`` now (best effort: if Redis refuses ``CLIENT ID`` or
        ``CLIENT UNBLOCK``, the wait ends at its timeout)."""
        import asyncio  # here, as in _load_scripts: the blocking Broker's users never load it

        wait = self._ident
        errors: tuple[type[Exception], ...] = (*self._errors, AsynqError)
        for _ in range(_UNBLOCK_TRIES):
            if wait is None or self._ident is not wait:
                return  # no wait, or it ended
            try:
                (ident,) = await wait
                if not isinstance(ident, int) or await self.execute(Command(("CLIENT", "UNBLOCK", ident))):
                    return
            except errors:
                return
            # Not blocked yet: the BLPOP, sent after the CLIENT ID, may not have reached Redis.
            await asyncio.sleep(0.001)

    async def execute(self, call: Call) -> Any:
        """Send one call (or one pipelined batch) and return its reply."""
        return await self._run_from(_one(call), None)

    async def _each_primary(self, command: Command) -> dict[str, Any]:
        got = None if self._pipelined is not None else await self._redis_link().each_primary(command)
        if got is None:
            return {"": await self.execute(command)}
        return {node: _translate(r, command) if isinstance(r, Exception) else r for node, r in got.items()}

    def _send(self, calls: Sequence[Command | Script]) -> Awaitable[list[Any]]:
        if self._pipelined is not None:
            return self._pipelined.execute([_wire_args(call) for call in calls])
        return self._redis_link().send(calls)

    async def _after_error(self, replies: Sequence[Any]) -> None:
        if self._pipelined is None:
            await self._redis_link().after_error(replies)

    async def _load_scripts(self) -> None:
        # Calls refused together (a flushed or failed-over server) wait for one load, not one each.
        import asyncio  # here, so that the blocking Broker's users (the command line) never load it

        loading = self._loading
        if loading is None or loading.done() or loading.get_loop() is not asyncio.get_running_loop():
            loading = self._loading = asyncio.ensure_future(self._load_scripts_now())
        await asyncio.shield(loading)

    async def _load_scripts_now(self) -> None:
        if self._pipelined is not None:
            raise_failed(await self._pipelined.execute(_script_loads()))
        else:
            await self._redis_link().load_scripts()

    async def listen(
        self,
        channels: list[str],
        on_message: Callable[[str, bytes], None],
        stopping: asyncio.Event,
        subscribed: asyncio.Event,
    ) -> None:
        """Subscribe to ``channels`` and hand each message to ``on_message`` until ``stopping``.

        Pub/Sub goes through redis-py, on a standalone server too.

        Raises:
            RedisUnavailableError: the subscription broke (the caller decides when to retry).
        """
        await self._redis_link().listen(channels, on_message, stopping, subscribed)

    async def aclose(self) -> None:
        """Close the connections this broker made."""
        if self._pipelined is not None:
            self._pipelined.close()
        if self._waiter is not None:
            self._waiter.close()
        if self._link is not None:
            await self._link.aclose()
