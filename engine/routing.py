"""Cluster routing without I/O: which node a call goes to, which errors are worth retrying, and
when to refresh the slot map.

A Redis Cluster answers MOVED/ASK while a slot migrates, CLUSTERDOWN and TRYAGAIN during a failover,
READONLY from a demoted master and LOADING from a node that restarts; redis-py gives up on a
redirect loop with "TTL exhausted". All of them mean "not now", not "never", so the broker reports
them as ``RedisUnavailableError`` and callers retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.exceptions import (
    AskError,
    BusyLoadingError,
    ClusterError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)

from .calls import Command, Script

__all__ = ["REFRESH_INTERVAL_S", "RETRYABLE", "Refresher", "first_key", "split_by_node"]

RETRYABLE: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    OSError,
    ClusterError,  # CLUSTERDOWN, MASTERDOWN, and redis-py's "TTL exhausted"
    AskError,  # and MovedError, its subclass
    TryAgainError,
    ReadOnlyError,
    BusyLoadingError,
    RedisClusterException,  # slots not covered, no node for a slot: the map is being rebuilt
)
"""redis-py errors after which the same call may succeed on a later try."""

REFRESH_INTERVAL_S = 0.25
"""Least time between two slot-map refreshes of one broker (a failover produces error bursts)."""


def first_key(call: Command | Script) -> str | bytes | None:
    """Return the key that decides a call's slot: a script's first key, a command's route key or
    first argument."""
    if isinstance(call, Script):
        return call.keys[0] if call.keys else None
    if call.route_key is not None:
        return call.route_key
    if len(call.args) < 2 or isinstance(call.args[1], int | float):
        return None
    return call.args[1]


def split_by_node(
    calls: Sequence[Command | Script], node_of: Callable[[Any], Any]
) -> list[tuple[Any, list[int]]]:
    """Group the indexes of ``calls`` by the node ``node_of(first key)`` names, keeping their order.

    Returns (node, indexes) pairs; keyless calls and calls whose slot has no known owner come
    alone with node None, for redis-py to route.
    """
    groups: dict[str, tuple[Any, list[int]]] = {}
    alone: list[tuple[Any, list[int]]] = []
    for i, call in enumerate(calls):
        key = first_key(call)
        try:
            node = None if key is None else node_of(key)
        except RETRYABLE:
            node = None
        if node is None:
            alone.append((None, [i]))
        else:
            groups.setdefault(node.name, (node, []))[1].append(i)
    return [*groups.values(), *alone]


class Refresher:
    """Decides when a retryable error should refresh the slot map (at most every 0.25 s)."""

    def __init__(self) -> None:
        self._last = -REFRESH_INTERVAL_S

    def due(self, replies: Sequence[Any]) -> bool:
        """True if a reply is a retryable error and no refresh happened in the last interval."""
        if not any(isinstance(r, RETRYABLE) for r in replies):
            return False
        now = time.monotonic()
        if now - self._last < REFRESH_INTERVAL_S:
            return False
        self._last = now
        return True
