"""The only code that imports redis-py: a Redis Cluster, Sentinel, or a redis-py client given.

``broker`` reaches a standalone server through ``resp``'s own connections and loads this module
only for what they cannot do (slot routing, failover through Sentinel, Pub/Sub, a caller's own
redis-py client), so a command line that talks to one server never imports redis-py.

``SyncLink`` and ``AsyncLink`` send calls on a blocking and an asyncio redis-py client. On a
cluster, a batch is split by the node that owns each call's first key and each part is sent on its
own, so a failed node fails only its own calls; an error worth retrying refreshes the slot map, so
the next attempt reaches a promoted replica (see ``routing``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
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

from .config import RedisConnOpt
from .errors import AsynqError, BrokerError, RedisAuthError, RedisUnavailableError, ValidationError
from .resp import tcp_options
from .routing import RETRYABLE, Refresher, split_by_node
from .scripts import all_scripts

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .calls import Command, Script

__all__ = ["ERRORS", "AsyncLink", "SyncLink", "connect_async", "connect_sync", "is_noscript", "translated"]

ERRORS = (redis.RedisError, OSError, redis.exceptions.RedisClusterException)
"""Everything redis-py raises (its cluster errors do not all derive from ``RedisError``)."""


def translated(exc: Exception, what: str | None) -> AsynqError:
    """The engine's error for a redis-py one; ``what`` names the call refused, if one was."""
    if isinstance(exc, redis.exceptions.NoPermissionError) and what is not None:
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


def is_noscript(reply: Any) -> bool:
    """True if ``reply`` is redis-py's NOSCRIPT error (the scripts must be loaded again)."""
    return isinstance(reply, redis.exceptions.NoScriptError)


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


def connect_sync(target: object) -> tuple[redis.Redis | redis.RedisCluster, list[redis.Redis]]:
    """Return a blocking redis-py client for a URL, options, or an existing client, and the
    Sentinel connections behind it (to close with it)."""
    if isinstance(target, redis.Redis | redis.RedisCluster):
        _check_client(target)
        return target, []
    if isinstance(target, aredis.Redis | aredis.RedisCluster):
        raise ValidationError("a blocking Client/Inspector needs a blocking redis.Redis, not redis.asyncio")
    opt = _options(target)
    kwargs = _common_kwargs(opt)
    if opt.cluster_addrs:
        nodes = [ClusterNode(h, p) for h, p in opt.cluster_addrs]  # type: ignore[no-untyped-call]
        try:  # the blocking client reads the cluster's slots as it is made
            return redis.RedisCluster(startup_nodes=nodes, **kwargs), []
        except ERRORS as exc:
            raise translated(exc, None) from exc
    if opt.sentinel_addrs:
        sentinel = Sentinel(list(opt.sentinel_addrs), sentinel_kwargs=_sentinel_kwargs(opt), **kwargs)  # type: ignore[no-untyped-call]
        master: redis.Redis = sentinel.master_for(opt.sentinel_master, db=opt.db)  # type: ignore[no-untyped-call]
        return master, list(sentinel.sentinels)
    if opt.unix_socket:
        kwargs.pop("ssl", None)
        return redis.Redis(unix_socket_path=opt.unix_socket, db=opt.db, **kwargs), []
    return redis.Redis(host=opt.host, port=opt.port, db=opt.db, **kwargs), []


def connect_async(target: object) -> tuple[aredis.Redis | aredis.RedisCluster, list[aredis.Redis]]:
    """Return an asyncio redis-py client for a URL, options, or an existing client, and the
    Sentinel connections behind it (to close with it)."""
    if isinstance(target, aredis.Redis | aredis.RedisCluster):
        _check_client(target)
        return target, []
    if isinstance(target, redis.Redis | redis.RedisCluster):
        raise ValidationError("an async Client/Inspector needs a redis.asyncio client, not a blocking one")
    opt = _options(target)
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


def _options(target: object) -> RedisConnOpt:
    if isinstance(target, str):
        return RedisConnOpt.from_url(target)
    if isinstance(target, RedisConnOpt):
        return target
    raise ValidationError(f"not a Redis URL, RedisConnOpt or redis-py client: {type(target).__name__}")


FOLLOW_MASTER_S = 1.0
"""How often, at most, a link on Sentinel asks the Sentinels which node is the master now."""


class _MasterCheck:
    """When a link on Sentinel next asks which node the Sentinels name as the master.

    redis-py asks only when it opens a connection, so one that stays open keeps sending to a
    master the Sentinels have replaced. A master demoted while it still runs (a failover of a live
    master, or a second failover right after the first) takes those writes until the Sentinels
    reconfigure it, up to 10 s later, and then drops them: completed tasks run again. Go's client
    drops such connections on the Sentinels' ``+switch-master``; asking on use does the same within
    ``FOLLOW_MASTER_S``. Given the new address, redis-py closes the idle connections to the old
    master at once and the busy ones when they are released.
    """

    def __init__(self) -> None:
        self._next = 0.0

    def due(self) -> bool:
        """True at most once per ``FOLLOW_MASTER_S``."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + FOLLOW_MASTER_S
        return True


class SyncLink:
    """Sends calls on a blocking redis-py client (made from a URL or options, or the caller's own).

    Args:
        target: What the broker was given.
        wire: How the broker writes a call as command arguments (EVALSHA for a script).
    """

    def __init__(self, target: object, wire: Callable[[Command | Script], tuple[Any, ...]]) -> None:
        self.client, self._sentinels = connect_sync(target)
        """The redis-py client."""
        self._owned = isinstance(target, str | RedisConnOpt)
        self._wire = wire
        self._refresher = Refresher()
        self._master_check = _MasterCheck()

    def send(self, calls: Sequence[Command | Script]) -> list[Any]:
        """Send ``calls`` and return their replies, an error reply as its redis-py exception."""
        if self._sentinels and self._master_check.due():
            pool: Any = self.client.connection_pool  # type: ignore[union-attr]  # a SentinelConnectionPool
            with contextlib.suppress(*ERRORS):  # no Sentinel answers: the call itself will say so
                pool.get_master_address()
        if len(calls) == 1:
            try:
                return [self.client.execute_command(*self._wire(calls[0]))]  # type: ignore[no-untyped-call]
            except redis.ResponseError as exc:
                return [exc]
        if not isinstance(self.client, redis.RedisCluster):
            return self._pipeline(calls)
        replies: list[Any] = [None] * len(calls)
        for node, part in split_by_node(calls, self.client.get_node_from_key):
            try:
                got = self._pipeline([calls[i] for i in part], node)
            except ERRORS as exc:
                got = [exc] * len(part)
            for i, reply in zip(part, got, strict=True):
                replies[i] = reply
        return replies

    def _pipeline(self, calls: Sequence[Command | Script], node: Any = None) -> list[Any]:
        # On a cluster, name the node: redis-py would ask its default node for the keys of each
        # EVALSHA, so a dead default node would fail every script, and WAIT has no key at all.
        target = {} if node is None else {"target_nodes": node}
        pipe = self.client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*self._wire(call), **target)
        return list(pipe.execute(raise_on_error=False))

    def each_primary(self, command: Command) -> dict[str, Any] | None:
        """Run ``command`` on every primary of a cluster (replies or exceptions); None if not a cluster."""
        if not isinstance(self.client, redis.RedisCluster):
            return None
        replies: dict[str, Any] = {}
        for node in self.client.get_primaries():  # type: ignore[no-untyped-call]
            try:
                replies[node.name] = self.client.execute_command(*command.args, target_nodes=node)  # type: ignore[no-untyped-call]
            except ERRORS as exc:
                replies[node.name] = exc
        return replies

    def after_error(self, replies: Sequence[Any]) -> None:
        """Refresh a cluster's slot map if a reply says it may have changed."""
        if isinstance(self.client, redis.RedisCluster) and self._refresher.due(replies):
            with contextlib.suppress(*ERRORS):
                self.client.nodes_manager.initialize()

    def load_scripts(self) -> None:
        """Load every packaged script."""
        for lua in all_scripts().values():
            self.client.script_load(lua.source)

    def close(self) -> None:
        """Close the client and its Sentinel connections if this link made them."""
        if self._owned:
            self.client.close()
            for sentinel in self._sentinels:
                sentinel.close()


class AsyncLink:
    """Sends calls on an asyncio redis-py client; also Pub/Sub, which ``resp`` does not do.

    Args:
        target: What the broker was given.
        wire: How the broker writes a call as command arguments (EVALSHA for a script).
    """

    def __init__(self, target: object, wire: Callable[[Command | Script], tuple[Any, ...]]) -> None:
        self.client, self._sentinels = connect_async(target)
        """The redis-py client."""
        self._owned = isinstance(target, str | RedisConnOpt)
        self._wire = wire
        self._refresher = Refresher()
        self._master_check = _MasterCheck()

    async def send(self, calls: Sequence[Command | Script]) -> list[Any]:
        """Send ``calls`` and return their replies, an error reply as its redis-py exception."""
        if self._sentinels and self._master_check.due():
            pool: Any = self.client.connection_pool  # type: ignore[union-attr]  # a SentinelConnectionPool
            with contextlib.suppress(*ERRORS):  # no Sentinel answers: the call itself will say so
                await pool.get_master_address()
        if len(calls) == 1:
            try:
                return [await self.client.execute_command(*self._wire(calls[0]))]
            except redis.ResponseError as exc:
                return [exc]
        if not isinstance(self.client, aredis.RedisCluster):
            return await self._pipeline(calls)
        await self.client.initialize()  # the slot map is loaded lazily, on first use (no-op after)
        parts = split_by_node(calls, self.client.get_node_from_key)
        results = await asyncio.gather(
            *(self._pipeline([calls[i] for i in part], node) for node, part in parts), return_exceptions=True
        )
        replies: list[Any] = [None] * len(calls)
        for (_, part), got in zip(parts, results, strict=True):
            if isinstance(got, BaseException):
                if not isinstance(got, ERRORS):
                    raise got
                got = [got] * len(part)
            for i, reply in zip(part, got, strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, calls: Sequence[Command | Script], node: Any = None) -> list[Any]:
        target = {} if node is None else {"target_nodes": node}
        pipe = self.client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*self._wire(call), **target)
        return list(await pipe.execute(raise_on_error=False))

    async def each_primary(self, command: Command) -> dict[str, Any] | None:
        """Run ``command`` on every primary of a cluster (replies or exceptions); None if not a cluster."""
        if not isinstance(self.client, aredis.RedisCluster):
            return None
        await self.client.initialize()
        nodes = self.client.get_primaries()
        got = await asyncio.gather(
            *(self.client.execute_command(*command.args, target_nodes=node) for node in nodes),
            return_exceptions=True,
        )
        replies: dict[str, Any] = {}
        for node, reply in zip(nodes, got, strict=True):
            if isinstance(reply, BaseException) and not isinstance(reply, ERRORS):
                raise reply
            replies[node.name] = reply
        return replies

    async def after_error(self, replies: Sequence[Any]) -> None:
        """Refresh a cluster's slot map if a reply says it may have changed."""
        if isinstance(self.client, aredis.RedisCluster) and self._refresher.due(replies):
            with contextlib.suppress(*ERRORS):
                await self.client.nodes_manager.initialize()

    async def load_scripts(self) -> None:
        """Load every packaged script."""
        for lua in all_scripts().values():
            await self.client.script_load(lua.source)

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
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(*channels)
            subscribed.set()
            loop = asyncio.get_running_loop()
            while not stopping.is_set():
                started = loop.time()
                message = await pubsub.get_message(timeout=0.5)
                if message is not None:
                    # (A subscription's confirmations, one per channel, come back at once as well.)
                    if message["type"] == "message":
                        on_message(message["channel"].decode(errors="replace"), message["data"])
                elif loop.time() - started < 0.25:
                    # Across a partition redis-py returns at once without suspending, so this loop
                    # would spin and starve every other task on the event loop: wait here instead.
                    await asyncio.sleep(0.25)
        except (redis.RedisError, OSError) as exc:
            raise translated(exc, None) from exc
        finally:
            subscribed.clear()
            with contextlib.suppress(redis.RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def aclose(self) -> None:
        """Close the client and its Sentinel connections if this link made them."""
        if self._owned:
            await self.client.aclose()
            for sentinel in self._sentinels:
                await sentinel.aclose()
