"""The only code that talks to redis-py: connecting, and running plans (see ``calls``).

``Broker`` blocks and ``AsyncBroker`` awaits; both run the same plans. redis-py errors never
leave this module: they become ``RedisUnavailableError`` (worth retrying: unreachable, or a
cluster between owners) or ``BrokerError``.

On a cluster, a batch is split by the node that owns each call's first key and each part is sent
on its own, so a failed node fails only its own calls; an error worth retrying refreshes the slot
map, so the next attempt reaches a promoted replica (see ``routing``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.sentinel import MasterNotFoundError as AsyncMasterNotFoundError
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from .calls import Arg, Batch, Call, Command, EachPrimary, Plan, Script, T, raise_failed
from .config import RedisConnOpt
from .errors import AsynqError, BrokerError, RedisAuthError, RedisUnavailableError, ValidationError
from .resp import BlockingConnection, PipelinedConnection, tcp_options
from .routing import RETRYABLE, Refresher, split_by_node
from .scripts import all_scripts, script
from .settings import default_conn_opt

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

__all__ = ["AsyncBroker", "Broker", "RedisLike"]

RedisLike = str | RedisConnOpt | redis.Redis | aredis.Redis | redis.RedisCluster | aredis.RedisCluster
"""What ``Client``, ``Inspector`` and ``Server`` accept as their Redis: a URL, options or a client."""

_REDIS_ERRORS = (redis.RedisError, OSError, redis.exceptions.RedisClusterException)
"""Everything redis-py raises (its cluster errors do not all derive from ``RedisError``)."""


def _translate(exc: Exception, call: Command | Script | None = None) -> AsynqError:
    """The engine's error for a redis-py one, keeping Redis's own error as its ``__cause__``."""
    if isinstance(exc, AsynqError):
        return exc
    translated = _translated(exc, call)
    translated.__cause__ = exc
    return translated


def _translated(exc: Exception, call: Command | Script | None) -> AsynqError:
    if isinstance(exc, redis.exceptions.NoPermissionError) and call is not None:
        what = f"script {call.name}" if isinstance(call, Script) else " ".join(str(a) for a in call.args[:2])
        return BrokerError(f"Redis denied {what}: {exc}")
    if isinstance(exc, redis.AuthenticationError):
        return RedisAuthError("Redis refused the credentials (authentication failed)")
    if isinstance(exc, MasterNotFoundError | AsyncMasterNotFoundError):
        # redis-py appends the repr of every Sentinel client it asked; the first clause says it all.
        master = str(exc).partition(" : ")[0].removeprefix("No master found for ")
        return RedisUnavailableError(f"cannot reach Redis: no Sentinel gave an address for master {master}")
    if isinstance(exc, redis.exceptions.RedisClusterException):
        text = str(exc)
        reason = text.partition("reachable node: ")[2] or text
        return RedisUnavailableError(f"cannot reach any Redis Cluster node: {reason}")
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | OSError):
        return RedisUnavailableError(f"cannot reach Redis: {exc}")
    if isinstance(exc, RETRYABLE):
        return RedisUnavailableError(f"Redis cannot serve this now, retry: {exc}")
    return BrokerError(str(exc))


def _common_kwargs(opt: RedisConnOpt) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "username": opt.username,
        "password": opt.password,
        "socket_timeout": opt.socket_timeout_s,
        "socket_connect_timeout": opt.connect_timeout_s,
        "health_check_interval": opt.health_check_interval_s,
        # A retried EVALSHA may run a non-idempotent script twice (an enqueue would then report a
        # conflict with itself), so redis-py must not retry on its own; callers decide.
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": False,
        "socket_keepalive": True,
        "socket_keepalive_options": tcp_options(opt.socket_timeout_s),
    }
    if opt.tls:
        if opt.tls_insecure:
            logging.getLogger("asynq_py").warning(
                "TLS certificate verification is off for %s: anyone on the path can read and change tasks",
                opt.redacted_url(),
            )
        kwargs["ssl"] = True
        kwargs["ssl_ca_certs"] = opt.tls_ca_file
        kwargs["ssl_cert_reqs"] = ssl.CERT_NONE if opt.tls_insecure else ssl.CERT_REQUIRED
        kwargs["ssl_check_hostname"] = not opt.tls_insecure
    return kwargs


def _sentinel_kwargs(opt: RedisConnOpt) -> dict[str, Any]:
    return {
        "username": opt.sentinel_username,
        "password": opt.sentinel_password,
        "socket_timeout": opt.socket_timeout_s,
        "socket_connect_timeout": opt.connect_timeout_s,
    }


def _check_client(client: Any) -> None:
    pool = getattr(client, "connection_pool", None)
    if pool is not None and pool.connection_kwargs.get("decode_responses"):
        raise ValidationError("the Redis client must be created with decode_responses=False")


def connect_sync(target: RedisLike) -> tuple[redis.Redis | redis.RedisCluster, list[redis.Redis]]:
    """Return a blocking redis-py client for a URL, options, or an existing client, and the
    Sentinel connections behind it (to close with it)."""
    if isinstance(target, redis.Redis | redis.RedisCluster):
        _check_client(target)
        return target, []
    if isinstance(target, aredis.Redis | aredis.RedisCluster):
        raise ValidationError("a blocking Client/Inspector needs a blocking redis.Redis, not redis.asyncio")
    opt = RedisConnOpt.from_url(target) if isinstance(target, str) else target
    kwargs = _common_kwargs(opt)
    if opt.cluster_addrs:
        nodes = [ClusterNode(h, p) for h, p in opt.cluster_addrs]  # type: ignore[no-untyped-call]
        try:  # the blocking client reads the cluster's slots as it is made
            return redis.RedisCluster(startup_nodes=nodes, **kwargs), []
        except _REDIS_ERRORS as exc:
            raise _translate(exc) from exc
    if opt.sentinel_addrs:
        sentinel = Sentinel(list(opt.sentinel_addrs), sentinel_kwargs=_sentinel_kwargs(opt), **kwargs)  # type: ignore[no-untyped-call]
        master: redis.Redis = sentinel.master_for(opt.sentinel_master, db=opt.db)  # type: ignore[no-untyped-call]
        return master, list(sentinel.sentinels)
    if opt.unix_socket:
        kwargs.pop("ssl", None)
        return redis.Redis(unix_socket_path=opt.unix_socket, db=opt.db, **kwargs), []
    return redis.Redis(host=opt.host, port=opt.port, db=opt.db, **kwargs), []


def connect_async(target: RedisLike) -> tuple[aredis.Redis | aredis.RedisCluster, list[aredis.Redis]]:
    """Return an asyncio redis-py client for a URL, options, or an existing client, and the
    Sentinel connections behind it (to close with it)."""
    if isinstance(target, aredis.Redis | aredis.RedisCluster):
        _check_client(target)
        return target, []
    if isinstance(target, redis.Redis | redis.RedisCluster):
        raise ValidationError("an async Client/Inspector needs a redis.asyncio client, not a blocking one")
    opt = RedisConnOpt.from_url(target) if isinstance(target, str) else target
    kwargs = _common_kwargs(opt)
    if opt.cluster_addrs:
        kwargs.pop("health_check_interval")
        nodes = [AsyncClusterNode(h, p) for h, p in opt.cluster_addrs]
        return aredis.RedisCluster(startup_nodes=nodes, **kwargs), []
    if opt.sentinel_addrs:
        sentinel = AsyncSentinel(list(opt.sentinel_addrs), sentinel_kwargs=_sentinel_kwargs(opt), **kwargs)  # type: ignore[no-untyped-call]
        amaster: aredis.Redis = sentinel.master_for(opt.sentinel_master, db=opt.db)
        return amaster, list(sentinel.sentinels)
    if opt.unix_socket:
        kwargs.pop("ssl", None)
        return aredis.Redis(unix_socket_path=opt.unix_socket, db=opt.db, **kwargs), []
    return aredis.Redis(host=opt.host, port=opt.port, db=opt.db, **kwargs), []


def _standalone(target: RedisLike) -> RedisConnOpt | None:
    """The options of a standalone Redis that a broker connects to itself, else None.

    Calls to such a server go through ``resp``'s lean connections; a cluster (slot routing),
    Sentinel (failover) or a client passed in stays on redis-py alone.
    """
    if not isinstance(target, str | RedisConnOpt):
        return None
    opt = RedisConnOpt.from_url(target) if isinstance(target, str) else target
    if opt.cluster_addrs or opt.sentinel_addrs:
        return None
    return opt


def _script_loads() -> list[tuple[Arg, ...]]:
    return [("SCRIPT", "LOAD", lua.source) for lua in all_scripts().values()]


def _wire_args(call: Command | Script) -> tuple[Any, ...]:
    if isinstance(call, Command):
        return call.args
    return ("EVALSHA", script(call.name).sha, len(call.keys), *call.keys, *call.args)


def _needs_reload(replies: Sequence[Any]) -> bool:
    return any(isinstance(r, redis.exceptions.NoScriptError) for r in replies)


def _reload_indexes(replies: Sequence[Any], calls: Sequence[Command | Script]) -> list[int]:
    """The calls to send again once the scripts are loaded: those refused with NOSCRIPT, and every
    ``WAIT`` after the first of them, since a WAIT vouches only for the writes sent before it."""
    redo = [i for i, r in enumerate(replies) if isinstance(r, redis.exceptions.NoScriptError)]
    waits = [
        i
        for i, c in enumerate(calls)
        if redo and i > redo[0] and isinstance(c, Command) and str(c.args[0]).upper() == "WAIT"
    ]
    return sorted({*redo, *waits})


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
    """Runs plans on a blocking redis-py client."""

    def __init__(self, target: RedisLike | None) -> None:
        if target is None:  # resolved as the asynq-py command line resolves it
            target = default_conn_opt()
        self.redis, self._sentinels = connect_sync(target)
        """The underlying redis-py client (every call when there is no direct connection)."""
        self._owned = not isinstance(target, redis.Redis | redis.RedisCluster)
        opt = _standalone(target)
        self._direct = None if opt is None else BlockingConnection(opt)
        self._refresher = Refresher()

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
            if _needs_reload(replies):
                self._load_scripts()
                redo = _reload_indexes(replies, calls)
                for i, reply in zip(redo, self._send([calls[i] for i in redo]), strict=True):
                    replies[i] = reply
        except _REDIS_ERRORS as exc:
            self._after_error([exc])
            raise _translate(exc, None if isinstance(call, Batch) else call) from exc
        self._after_error(replies)
        return _result(call, replies)

    def _each_primary(self, command: Command) -> dict[str, Any]:
        if not isinstance(self.redis, redis.RedisCluster):
            return {"": self.execute(command)}
        replies: dict[str, Any] = {}
        for node in self.redis.get_primaries():  # type: ignore[no-untyped-call]
            try:
                replies[node.name] = self.redis.execute_command(*command.args, target_nodes=node)  # type: ignore[no-untyped-call]
            except _REDIS_ERRORS as exc:
                replies[node.name] = _translate(exc, command)
        return replies

    def _send(self, calls: Sequence[Command | Script]) -> list[Any]:
        if self._direct is not None:
            return self._direct.execute([_wire_args(call) for call in calls])
        if len(calls) == 1:
            try:
                return [self.redis.execute_command(*_wire_args(calls[0]))]  # type: ignore[no-untyped-call]
            except redis.ResponseError as exc:
                return [exc]
        if not isinstance(self.redis, redis.RedisCluster):
            return self._pipeline(calls)
        replies: list[Any] = [None] * len(calls)
        for node, part in split_by_node(calls, self.redis.get_node_from_key):
            try:
                got = self._pipeline([calls[i] for i in part], node)
            except _REDIS_ERRORS as exc:
                got = [exc] * len(part)
            for i, reply in zip(part, got, strict=True):
                replies[i] = reply
        return replies

    def _pipeline(self, calls: Sequence[Command | Script], node: Any = None) -> list[Any]:
        # On a cluster, name the node: redis-py would ask its default node for the keys of each
        # EVALSHA, so a dead default node would fail every script, and WAIT has no key at all.
        target = {} if node is None else {"target_nodes": node}
        pipe = self.redis.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*_wire_args(call), **target)
        return list(pipe.execute(raise_on_error=False))

    def _after_error(self, replies: Sequence[Any]) -> None:
        if isinstance(self.redis, redis.RedisCluster) and self._refresher.due(replies):
            with contextlib.suppress(*_REDIS_ERRORS):
                self.redis.nodes_manager.initialize()

    def _load_scripts(self) -> None:
        if self._direct is not None:
            raise_failed(self._direct.execute(_script_loads()))
            return
        for lua in all_scripts().values():
            self.redis.script_load(lua.source)

    def close(self) -> None:
        """Close the connection pool if this broker created it."""
        if self._direct is not None:
            self._direct.close()
        if self._owned:
            self.redis.close()
            for sentinel in self._sentinels:
                sentinel.close()


class AsyncBroker:
    """Runs plans on an asyncio redis-py client."""

    def __init__(self, target: RedisLike | None) -> None:
        if target is None:  # resolved as the asynq-py command line resolves it
            target = default_conn_opt()
        self.redis, self._sentinels = connect_async(target)
        """The underlying redis-py client (Pub/Sub, and every call when there is no pipelined connection)."""
        self._owned = not isinstance(target, aredis.Redis | aredis.RedisCluster)
        opt = _standalone(target)
        self._pipelined = None if opt is None else PipelinedConnection(opt)
        self._loading: asyncio.Future[None] | None = None
        self._refresher = Refresher()

    async def run(self, plan: Plan[T]) -> T:
        """Run ``plan`` to its end and return its result."""
        try:
            call = next(plan)
            while True:
                try:
                    reply = await self.execute(call)
                except AsynqError as exc:
                    call = plan.throw(exc)
                else:
                    call = plan.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def execute(self, call: Call) -> Any:
        """Send one call (or one pipelined batch) and return its reply."""
        if isinstance(call, EachPrimary):
            return await self._each_primary(call.command)
        calls = call.calls if isinstance(call, Batch) else (call,)
        try:
            replies = await self._send(calls)
            if _needs_reload(replies):
                await self._load_scripts()
                redo = _reload_indexes(replies, calls)
                for i, reply in zip(redo, await self._send([calls[i] for i in redo]), strict=True):
                    replies[i] = reply
        except _REDIS_ERRORS as exc:
            await self._after_error([exc])
            raise _translate(exc, None if isinstance(call, Batch) else call) from exc
        await self._after_error(replies)
        return _result(call, replies)

    async def _each_primary(self, command: Command) -> dict[str, Any]:
        if not isinstance(self.redis, aredis.RedisCluster):
            return {"": await self.execute(command)}
        await self.redis.initialize()
        nodes = self.redis.get_primaries()
        got = await asyncio.gather(
            *(self.redis.execute_command(*command.args, target_nodes=node) for node in nodes),
            return_exceptions=True,
        )
        replies: dict[str, Any] = {}
        for node, reply in zip(nodes, got, strict=True):
            if isinstance(reply, BaseException) and not isinstance(reply, _REDIS_ERRORS):
                raise reply
            replies[node.name] = _translate(reply, command) if isinstance(reply, Exception) else reply
        return replies

    def _send(self, calls: Sequence[Command | Script]) -> Awaitable[list[Any]]:
        if self._pipelined is not None:
            return self._pipelined.execute([_wire_args(call) for call in calls])
        return self._send_redis_py(calls)

    async def _send_redis_py(self, calls: Sequence[Command | Script]) -> list[Any]:
        if len(calls) == 1:
            try:
                return [await self.redis.execute_command(*_wire_args(calls[0]))]
            except redis.ResponseError as exc:
                return [exc]
        if not isinstance(self.redis, aredis.RedisCluster):
            return await self._pipeline(calls)
        await self.redis.initialize()  # the slot map is loaded lazily, on first use (no-op after)
        parts = split_by_node(calls, self.redis.get_node_from_key)
        results = await asyncio.gather(
            *(self._pipeline([calls[i] for i in part], node) for node, part in parts), return_exceptions=True
        )
        replies: list[Any] = [None] * len(calls)
        for (_, part), got in zip(parts, results, strict=True):
            if isinstance(got, BaseException):
                if not isinstance(got, _REDIS_ERRORS):
                    raise got
                got = [got] * len(part)
            for i, reply in zip(part, got, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, calls: Sequence[Command | Script], node: Any = None) -> list[Any]:
        target = {} if node is None else {"target_nodes": node}
        pipe = self.redis.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*_wire_args(call), **target)
        return list(await pipe.execute(raise_on_error=False))

    async def _after_error(self, replies: Sequence[Any]) -> None:
        if isinstance(self.redis, aredis.RedisCluster) and self._refresher.due(replies):
            with contextlib.suppress(*_REDIS_ERRORS):
                await self.redis.nodes_manager.initialize()

    async def _load_scripts(self) -> None:
        # Calls refused together (a flushed or failed-over server) wait for one load, not one each.
        loading = self._loading
        if loading is None or loading.done() or loading.get_loop() is not asyncio.get_running_loop():
            loading = self._loading = asyncio.ensure_future(self._load_scripts_now())
        await asyncio.shield(loading)

    async def _load_scripts_now(self) -> None:
        if self._pipelined is not None:
            raise_failed(await self._pipelined.execute(_script_loads()))
            return
        for lua in all_scripts().values():
            await self.redis.script_load(lua.source)

    async def listen(
        self,
        channels: list[str],
        on_message: Callable[[str, bytes], None],
        stopping: asyncio.Event,
        subscribed: asyncio.Event,
    ) -> None:
        """Subscribe to ``channels`` and hand each message to ``on_message`` until ``stopping``.

        Raises:
            RedisUnavailableError: the subscription broke (the caller decides when to retry).
        """
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(*channels)
            subscribed.set()
            loop = asyncio.get_running_loop()
            while not stopping.is_set():
                started = loop.time()
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                if message is not None:
                    on_message(message["channel"].decode(errors="replace"), message["data"])
                elif loop.time() - started < 0.25:
                    # Across a partition redis-py returns at once without suspending, so this loop
                    # would spin and starve every other task on the event loop: wait here instead.
                    await asyncio.sleep(0.25)
        except (redis.RedisError, OSError) as exc:
            raise _translate(exc) from exc
        finally:
            subscribed.clear()
            with contextlib.suppress(redis.RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def aclose(self) -> None:
        """Close the connection pool if this broker created it."""
        if self._pipelined is not None:
            self._pipelined.close()
        if self._owned:
            await self.redis.aclose()
            for sentinel in self._sentinels:
                await sentinel.aclose()
