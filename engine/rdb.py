"""Plans for the task lifecycle: enqueue, dequeue, done, retry, archive and the server's loops.

Each function returns a plan (see ``calls``) that a ``Broker`` or ``AsyncBroker`` runs. Argument
order and encoding follow Go asynq's ``internal/rdb`` (docs/wire.md §4.1) so that both can share a
Redis; times are Unix seconds, truncated, except ``pending_since`` (nanoseconds).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from . import keys
from .calls import Arg, Batch, Command, Plan, Script, raise_failed
from .errors import AsynqError, BrokerError, DuplicateTaskError, NotReplicatedError, TaskIdConflictError
from .holds import Hold, HoldReason
from .wire import TaskMessage, encode_task_message

if TYPE_CHECKING:
    from .limits import QueueLimits

__all__ = [
    "AGGREGATION_SET_TIMEOUT_S",
    "ARCHIVE_MAX_AGE_S",
    "ARCHIVE_MAX_SIZE",
    "ENQUEUE_MANY_CHUNK",
    "LEASE_DURATION_S",
    "MAX_INT64",
    "SCHEDULER_HISTORY_MAX",
    "STATS_TTL_S",
    "Dequeued",
    "Fetched",
    "LeaseReport",
    "NewTask",
    "Replication",
    "aggregate_group",
    "archive",
    "archive_call",
    "clear_scheduler_entries",
    "clear_scheduler_history",
    "clear_server_state",
    "delete_aggregation_set",
    "delete_expired_completed",
    "dequeue",
    "done",
    "done_call",
    "drop_active",
    "enqueue",
    "enqueue_call",
    "enqueue_many_call",
    "enqueue_result",
    "extend_leases",
    "forward_due",
    "group_names",
    "heartbeat",
    "list_lease_expired",
    "mark_complete",
    "mark_complete_call",
    "reclaim",
    "reclaim_aggregation_sets",
    "reclaim_aggregation_sets_call",
    "reclaim_unleased",
    "reclaim_unleased_call",
    "record_scheduler_event",
    "replication_error",
    "requeue",
    "requeue_call",
    "retry",
    "retry_call",
    "sadd_queue_call",
    "seed_limits",
    "server_time",
    "wait_call",
    "write_result_call",
    "write_scheduler_entries",
    "write_server_state",
]

LEASE_DURATION_S = 30
"""Seconds a dequeued task is leased for (and each heartbeat extends it to)."""
STATS_TTL_S = 90 * 24 * 3600
"""Daily counters expire this long after their first increment."""
ARCHIVE_MAX_SIZE = 10_000
"""Archive trim size (keeps 9,999, as Go's rank arithmetic does)."""
ARCHIVE_MAX_AGE_S = 90 * 24 * 3600
"""Archived tasks older than this are deleted when another task is archived."""
MAX_INT64 = 9223372036854775807
"""Totals wrap to 1 at this value."""


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


@functools.lru_cache(maxsize=256)
def _processed_key(queue: str, day: int) -> str:
    """The processed counter of ``queue`` on the UTC ``day`` (days since the epoch), built once a day."""
    return keys.processed_key(queue, datetime.fromtimestamp(day * 86400, UTC))


def sadd_queue_call(queue: str) -> Command:
    """Return the call that registers ``queue`` in ``asynq:queues`` (made before its first enqueue)."""
    return Command(("SADD", keys.ALL_QUEUES, queue))


NewTask = tuple[TaskMessage, bytes, float, float, int | None]
"""A task to store: its message, the message encoded, the time it is enqueued, when it is to run
(process_at), and its uniqueness TTL in seconds (None: not unique)."""


def enqueue_call(new: NewTask) -> Script:
    """Return the call that stores a new task as pending, scheduled or aggregating."""
    msg, data, now, process_at, unique_ttl_s = new
    q = msg.queue
    unique = (msg.unique_key,) if unique_ttl_s is not None else ()
    if process_at > now:
        ttl: tuple[Arg, ...] = () if unique_ttl_s is None else (max(1, int(process_at + unique_ttl_s - now)),)
        return Script(
            "schedule",
            (keys.task_key(q, msg.id), keys.scheduled_key(q), *unique),
            (data, int(process_at), msg.id, *ttl),
        )
    ttl = () if unique_ttl_s is None else (unique_ttl_s,)
    if msg.group_key:
        return Script(
            "add_to_group",
            (keys.task_key(q, msg.id), keys.group_key(q, msg.group_key), keys.groups_key(q), *unique),
            (data, msg.id, int(now), msg.group_key, *ttl),
        )
    return Script(
        "enqueue",
        (keys.task_key(q, msg.id), keys.pending_key(q), keys.wake_list_key(q), *unique),
        (data, msg.id, int(now * 1e9), keys.wake_channel(q), *ttl),
    )


ENQUEUE_MANY_CHUNK = 250
"""Most tasks one ``enqueue_many`` script call stores (a call of this size runs for a few ms)."""


def enqueue_many_call(queue: str, tasks: Sequence[NewTask]) -> Script:
    """Return the one call that stores ``tasks``, all of ``queue``.

    Each task is stored as ``enqueue_call`` would store it alone (docs/wire.md §4.1.23).
    """
    task_keys: list[str] = [
        keys.pending_key(queue),
        keys.scheduled_key(queue),
        keys.groups_key(queue),
        keys.wake_list_key(queue),
    ]
    args: list[Arg] = [keys.wake_channel(queue)]
    task_prefix = keys.task_key_prefix(queue)
    for msg, data, now, process_at, unique_ttl_s in tasks:
        task_keys.append(task_prefix + msg.id)
        ttl = unique_ttl_s or 0
        if process_at > now:
            if unique_ttl_s is not None:
                ttl = max(1, int(process_at + unique_ttl_s - now))
            args += ("s", data, msg.id, int(process_at), "", ttl)
        elif msg.group_key:
            task_keys.append(keys.group_key(queue, msg.group_key))
            args += ("g", data, msg.id, int(now), msg.group_key, ttl)
        else:
            args += ("p", data, msg.id, int(now * 1e9), "", ttl)
        if unique_ttl_s is not None:
            task_keys.append(msg.unique_key)
    return Script("enqueue_many", tuple(task_keys), tuple(args))


def enqueue_result(msg: TaskMessage, code: int | bytes | str, *, now: float, process_at: float) -> str:
    """Map an enqueue script's reply (or one entry of ``enqueue_many``'s) to the state the task got,
    or raise its error."""
    if not isinstance(code, int):  # enqueue_many: the error one of the task's commands failed with
        raise BrokerError(code.decode(errors="replace") if isinstance(code, bytes) else code)
    if code == 0:
        raise TaskIdConflictError("task ID conflicts with another task", queue=msg.queue, task_id=msg.id)
    if code == -1:
        raise DuplicateTaskError("task already exists", queue=msg.queue, task_id=msg.id)
    if process_at > now:
        return "scheduled"
    return "aggregating" if msg.group_key else "pending"


@dataclass(frozen=True, slots=True)
class Replication:
    """How many replicas must acknowledge an enqueue, and how long to wait for them (``WAIT``)."""

    min_replicas: int
    """Replicas that must have the write."""
    timeout_s: float
    """Longest wait for them."""


def wait_call(queue: str, replication: Replication) -> Command:
    """Return the ``WAIT`` that follows writes to ``queue`` (on the node that owns the queue)."""
    timeout_ms = max(1, int(replication.timeout_s * 1000))
    return Command(("WAIT", replication.min_replicas, timeout_ms), route_key=keys.pending_key(queue))


def replication_error(msg: TaskMessage, acked: Any, replication: Replication) -> NotReplicatedError | None:
    """The error for a ``WAIT`` reply (or failure) below ``min_replicas``, or None if enough acked."""
    if isinstance(acked, int) and acked >= replication.min_replicas:
        return None
    got = acked if isinstance(acked, int) else 0
    why = f": {acked}" if isinstance(acked, Exception) else ""
    return NotReplicatedError(
        f"task stored, but {got} of {replication.min_replicas} replicas acknowledged it within "
        f"{replication.timeout_s:g}s{why}; it may be lost if the master fails now",
        acked=got,
        wanted=replication.min_replicas,
        queue=msg.queue,
        task_id=msg.id,
    )


def enqueue(new: NewTask, *, register_queue: bool, replication: Replication | None = None) -> Plan[str]:
    """Store a new task; return the state it got.

    Raises ``TaskIdConflictError``, ``DuplicateTaskError``, and with ``replication``
    ``NotReplicatedError`` when too few replicas acknowledged the write in time.
    """
    msg, _, now, process_at, _ = new
    call = enqueue_call(new)
    before = (sadd_queue_call(msg.queue),) if register_queue else ()
    after = (wait_call(msg.queue, replication),) if replication is not None else ()
    if before or after:
        replies = yield Batch((*before, call, *after))
        code = replies[len(before)]
        if isinstance(code, Exception):
            raise code
    else:
        code = yield call
    state = enqueue_result(msg, code, now=now, process_at=process_at)
    if replication is not None:
        error = replication_error(msg, replies[-1], replication)
        if error is not None:
            raise error
    return state


@dataclass(frozen=True, slots=True)
class Dequeued:
    """A task taken off a pending list under a lease."""

    task_id: str
    """The id from the pending list."""
    data: bytes
    """Its encoded message ("" when the hash was missing)."""
    queue: str
    """The queue it came from."""
    lease_expiry: int
    """Unix seconds when its lease expires unless extended."""
    pending_since_ns: int = 0
    """Unix nanoseconds since when it was pending (0 if the hash had no such field)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one fetch took, and which queues a flow-control limit held back on the way."""

    tasks: list[Dequeued]
    """The tasks taken, all from one queue."""
    holds: dict[str, Hold]
    """The queues tried whose limits held tasks back."""


@cache
def _dequeue_names(queue: str) -> tuple[tuple[str, ...], str, str]:
    """The dequeue script's keys, task key prefix and limit key prefix (built once per queue)."""
    names = (
        keys.pending_key(queue),
        keys.paused_key(queue),
        keys.active_key(queue),
        keys.lease_key(queue),
        keys.limits_key(queue),
    )
    return names, keys.task_key_prefix(queue), keys.limit_key_prefix(queue)


def dequeue(
    queues: Sequence[str], *, now: float, count: int, lease_s: int = LEASE_DURATION_S, relay: bool = False
) -> Plan[Fetched]:
    """Take up to ``count`` tasks from the first queue in ``queues`` that yields any.

    Paused queues are skipped; a queue's limits (docs/wire.md §2.3) are applied by the script. With
    ``relay`` (a server that waited on the wake lists), a call that takes tasks and leaves some
    pending pushes a token onto its queue's wake list for the next idle server (docs/wire.md §2.4).
    """
    expiry = int(now) + lease_s
    holds: dict[str, Hold] = {}
    for q in queues:
        names, task_prefix, limit_prefix = _dequeue_names(q)
        if relay:
            names = (*names, keys.wake_list_key(q))
        reply = yield Script("dequeue", names, (expiry, task_prefix, count, limit_prefix))
        if reply[1]:
            holds[q] = Hold(int(reply[0]) / 1000, HoldReason(int(reply[1])))
        if len(reply) > 2:
            tasks = [
                Dequeued(reply[i].decode(), reply[i + 1], q, expiry, int(reply[i + 2] or 0))
                for i in range(2, len(reply), 3)
            ]
            return Fetched(tasks, holds)
    return Fetched([], holds)


def nothing() -> Plan[Fetched]:
    """Take nothing: the plan behind a wait on the wake lists that only waits (``run_after_wake``)."""
    yield from ()
    return Fetched([], {})


def seed_limits(queue: str, limits: QueueLimits) -> Plan[bool]:
    """Write ``limits`` as the queue's limits unless it has some; return whether they were written."""
    fields = limits.to_fields()
    if not fields:
        return False
    args = tuple(x for pair in fields.items() for x in pair)
    return bool((yield Script("seed_limits", (keys.limits_key(queue),), args)))


def _stats_args(now: float) -> int:
    return int(now) + STATS_TTL_S


def _slot_keys(q: str) -> tuple[str, str, str, str]:
    """The keys with which a script that takes a task out of active tells the servers waiting on the
    queue's limits (lib/slot_freed.lua, docs/wire.md §2.4)."""
    return (keys.limits_key(q), keys.wake_list_key(q), keys.pending_key(q), keys.parked_types_key(q))


def done_call(msg: TaskMessage, *, now: float) -> Script:
    """Return the call that deletes a successfully processed task (also used for ``RevokeTask``)."""
    q = msg.queue
    unique = (msg.unique_key,) if msg.unique_key else ()
    return Script(
        "done",
        (
            keys.active_key(q),
            keys.lease_key(q),
            keys.task_key(q, msg.id),
            _processed_key(q, int(now // 86400)),
            keys.processed_total_key(q),
            *_slot_keys(q),
            *unique,
        ),
        (msg.id, _stats_args(now), MAX_INT64, keys.wake_channel(q)),
    )


def done(msg: TaskMessage, *, now: float) -> Plan[None]:
    """Delete a successfully processed task (see ``done_call``)."""
    yield done_call(msg, now=now)


def mark_complete_call(msg: TaskMessage, *, now: float) -> Script:
    """Return the call that keeps a processed task as completed; ``msg.completed_at`` must be set."""
    q = msg.queue
    unique = (msg.unique_key,) if msg.unique_key else ()
    return Script(
        "mark_complete",
        (
            keys.active_key(q),
            keys.lease_key(q),
            keys.completed_key(q),
            keys.task_key(q, msg.id),
            _processed_key(q, int(now // 86400)),
            keys.processed_total_key(q),
            *_slot_keys(q),
            *unique,
        ),
        (
            msg.id,
            _stats_args(now),
            int(now) + msg.retention,
            encode_task_message(msg),
            MAX_INT64,
            keys.wake_channel(q),
        ),
    )


def mark_complete(msg: TaskMessage, *, now: float) -> Plan[None]:
    """Keep a processed task as completed for its retention (see ``mark_complete_call``)."""
    yield mark_complete_call(msg, now=now)


def requeue_call(msg: TaskMessage) -> Script:
    """Return the call that puts an active task back at the head of pending, unchanged (shutdown abort)."""
    q = msg.queue
    return Script(
        "requeue",
        (
            keys.active_key(q),
            keys.lease_key(q),
            keys.pending_key(q),
            keys.task_key(q, msg.id),
            keys.wake_list_key(q),
            keys.limits_key(q),
            keys.parked_types_key(q),
        ),
        (msg.id, keys.wake_channel(q)),
    )


def requeue(msg: TaskMessage) -> Plan[None]:
    """Put an active task back at the head of pending (see ``requeue_call``)."""
    yield requeue_call(msg)


def retry_call(
    msg: TaskMessage, *, now: float, retry_at: float, is_failure: bool, throttled: bool = False
) -> Script:
    """Return the call that moves an active task to retry; ``msg`` already carries the new error.

    ``throttled``: the handler raised ``RateLimited``, so no failure is counted but the queue's
    throttled counters go up (docs/wire.md §2.3).
    """
    q = msg.queue
    when = _utc(now)
    counters = (keys.throttled_key(q, when), keys.throttled_total_key(q)) if throttled else ()
    return Script(
        "retry",
        (
            keys.task_key(q, msg.id),
            keys.active_key(q),
            keys.lease_key(q),
            keys.retry_key(q),
            keys.processed_key(q, when),
            keys.failed_key(q, when),
            keys.processed_total_key(q),
            keys.failed_total_key(q),
            *_slot_keys(q),
            *counters,
        ),
        (
            msg.id,
            encode_task_message(msg),
            int(retry_at),
            _stats_args(now),
            int(is_failure and not throttled),
            MAX_INT64,
            keys.wake_channel(q),
        ),
    )


def retry(msg: TaskMessage, *, now: float, retry_at: float, is_failure: bool) -> Plan[None]:
    """Move an active task to retry (see ``retry_call``)."""
    yield retry_call(msg, now=now, retry_at=retry_at, is_failure=is_failure)


def archive_call(msg: TaskMessage, *, now: float, raw: bytes | None = None) -> Script:
    """Return the call that archives an active task; ``msg`` already carries the final error.

    ``raw`` stores those bytes as the message instead, for a task whose message cannot be decoded.
    """
    q = msg.queue
    when = _utc(now)
    return Script(
        "archive",
        (
            keys.task_key(q, msg.id),
            keys.active_key(q),
            keys.lease_key(q),
            keys.archived_key(q),
            keys.processed_key(q, when),
            keys.failed_key(q, when),
            keys.processed_total_key(q),
            keys.failed_total_key(q),
            keys.task_key_prefix(q),
            *_slot_keys(q),
        ),
        (
            msg.id,
            encode_task_message(msg) if raw is None else raw,
            int(now),
            int(now) - ARCHIVE_MAX_AGE_S,
            ARCHIVE_MAX_SIZE,
            _stats_args(now),
            MAX_INT64,
            keys.wake_channel(q),
        ),
    )


def archive(msg: TaskMessage, *, now: float) -> Plan[None]:
    """Archive an active task (see ``archive_call``)."""
    yield archive_call(msg, now=now)


def forward_due(queue: str, *, now: float) -> Plan[int]:
    """Move every due scheduled and retry task of ``queue`` to pending (or its group); return how many."""
    moved = 0
    for source in (keys.scheduled_key(queue), keys.retry_key(queue)):
        while True:
            n = yield Script(
                "forward",
                (source, keys.pending_key(queue), keys.groups_key(queue), keys.wake_list_key(queue)),
                (
                    int(now),
                    keys.task_key_prefix(queue),
                    int(now * 1e9),
                    keys.group_key_prefix(queue),
                    keys.wake_channel(queue),
                ),
            )
            moved += int(n)
            if int(n) == 0:
                break
    return moved


def list_lease_expired(queues: Sequence[str], *, cutoff: float) -> Plan[list[tuple[str, str, bytes]]]:
    """Return (queue, task id, message) of every task whose lease expired before ``cutoff``."""
    replies = yield Batch(
        tuple(
            Script("list_lease_expired", (keys.lease_key(q),), (int(cutoff), keys.task_key_prefix(q)))
            for q in queues
        )
    )
    found: list[tuple[str, str, bytes]] = []
    for q, reply in zip(queues, replies, strict=True):
        if isinstance(reply, BrokerError):
            raise reply
        found.extend((q, reply[i].decode(), reply[i + 1]) for i in range(0, len(reply), 2))
    return found


def reclaim_unleased_call(queue: str, *, now: float) -> Script:
    """Return the call that gives active tasks without a lease an expired one (see the script)."""
    return Script("reclaim_unleased", (keys.active_key(queue), keys.lease_key(queue)), (int(now) - 1,))


def reclaim_unleased(queue: str, *, now: float) -> Plan[int]:
    """Give active tasks without a lease an expired one, so the recoverer picks them up."""
    n = yield reclaim_unleased_call(queue, now=now)
    return int(n)


def reclaim(queues: Sequence[str], *, now: float) -> Plan[None]:
    """Reclaim unleased active tasks and stale aggregation sets of every queue, in one round trip."""
    calls: list[Command | Script] = []
    for queue in queues:
        calls += [reclaim_unleased_call(queue, now=now), reclaim_aggregation_sets_call(queue, now=now)]
    yield from _send(calls)


def drop_active(queue: str, task_id: str) -> Plan[None]:
    """Remove an id that has no task hash from active and lease (nothing to run or recover)."""
    yield from _send(
        [
            Command(("LREM", keys.active_key(queue), 0, task_id)),
            Command(("ZREM", keys.lease_key(queue), task_id)),
        ]
    )


def write_result_call(queue: str, task_id: str, data: bytes) -> Command:
    """Return the call that stores a handler's result in its task hash."""
    return Command(("HSET", keys.task_key(queue, task_id), "result", data))


def delete_expired_completed(queue: str, *, now: float, batch: int) -> Plan[int]:
    """Delete completed tasks past their retention, ``batch`` per call, until none is left."""
    total = 0
    while True:
        n = yield Script(
            "delete_expired_completed",
            (keys.completed_key(queue),),
            (int(now), keys.task_key_prefix(queue), batch),
        )
        total += int(n)
        if int(n) < batch:
            return total


def reclaim_aggregation_sets_call(queue: str, *, now: float) -> Script:
    """Return the call that puts the tasks of stale aggregation sets back into their groups."""
    return Script(
        "reclaim_aggregation_sets",
        (keys.aggregation_sets_key(queue), keys.groups_key(queue)),
        (int(now), keys.group_key_prefix(queue)),
    )


def reclaim_aggregation_sets(queue: str, *, now: float) -> Plan[None]:
    """Put the tasks of aggregation sets past their deadline back into their groups."""
    yield reclaim_aggregation_sets_call(queue, now=now)


AGGREGATION_SET_TIMEOUT_S = 120
"""An aggregation set not deleted within this long is reclaimed into its group."""


def aggregate_group(
    queue: str, group: str, set_id: str, *, now: float, max_size: int, max_delay_s: float, grace_s: float
) -> Plan[tuple[list[bytes], str] | None]:
    """Take a batch of a group's tasks into a new aggregation set if a rule says it is ready.

    Returns the members' messages (oldest first) and the set key, or None.
    """
    set_key = keys.aggregation_set_key(queue, group, set_id)
    created = yield Script(
        "aggregation_check",
        (keys.group_key(queue, group), set_key, keys.aggregation_sets_key(queue), keys.groups_key(queue)),
        (max_size, int(max_delay_s), int(grace_s), int(now) + AGGREGATION_SET_TIMEOUT_S, int(now), group),
    )
    if not created:
        return None
    msgs = yield Script("read_aggregation_set", (set_key,), (keys.task_key_prefix(queue),))
    return list(msgs), set_key


def delete_aggregation_set(queue: str, set_key: str) -> Plan[None]:
    """Delete an aggregation set and its tasks once the aggregated task is stored."""
    yield Script(
        "delete_aggregation_set", (set_key, keys.aggregation_sets_key(queue)), (keys.task_key_prefix(queue),)
    )


def group_names(queue: str) -> Plan[list[str]]:
    """Return the names of the queue's groups with waiting tasks."""
    names = yield Command(("SMEMBERS", keys.groups_key(queue)))
    return sorted(n.decode() for n in names)


def server_time() -> Plan[float]:
    """Return the Redis server's clock as Unix seconds."""
    seconds, micros = yield Command(("TIME",))
    return int(seconds) + int(micros) / 1e6


def _lease_calls(leases: dict[str, list[str]], expiry: int) -> list[Command | Script]:
    return [Script("extend_leases", (keys.lease_key(q),), (expiry, *ids)) for q, ids in leases.items() if ids]


@dataclass(frozen=True, slots=True)
class LeaseReport:
    """What a lease extension found, queue by queue."""

    expiry: int
    """The expiry written to every lease that still existed (leases only move forward)."""
    gone: frozenset[tuple[str, str]]
    """(queue, task id) of the leases that no longer exist: the task is not ours any more."""
    failed: dict[str, AsynqError]
    """Queues whose leases could not be extended, with the error (their leases are unchanged)."""


def _lease_report(leases: dict[str, list[str]], expiry: int, replies: Sequence[Any]) -> LeaseReport:
    queues = [q for q, ids in leases.items() if ids]
    gone: set[tuple[str, str]] = set()
    failed: dict[str, AsynqError] = {}
    for q, reply in zip(queues, replies, strict=True):
        if isinstance(reply, AsynqError):
            failed[q] = reply
        else:
            gone.update((q, task_id.decode()) for task_id in reply)
    return LeaseReport(expiry, frozenset(gone), failed)


def _server_state_calls(
    server_key: str, workers_key: str, info: bytes, workers: dict[str, bytes], *, now: float, ttl_s: int
) -> list[Command | Script]:
    pairs: list[Any] = []
    for task_id, data in workers.items():
        pairs += [task_id, data]
    return [
        Command(("ZADD", keys.ALL_SERVERS, int(now) + ttl_s, server_key)),
        Command(("ZADD", keys.ALL_WORKERS, int(now) + ttl_s, workers_key)),
        Script("write_server_state", (server_key, workers_key), (ttl_s, info, *pairs)),
    ]


def _send(calls: list[Command | Script]) -> Plan[None]:
    if calls:
        raise_failed((yield Batch(tuple(calls))))


def extend_leases(
    leases: dict[str, list[str]], *, now: float, lease_s: int = LEASE_DURATION_S
) -> Plan[LeaseReport]:
    """Extend the leases of the given task ids (by queue) to now + ``lease_s``, never backwards.

    A lease that is gone is not re-added (a task already recovered stays recovered) and is reported.
    """
    expiry = int(now) + lease_s
    calls = _lease_calls(leases, expiry)
    replies = (yield Batch(tuple(calls))) if calls else []
    return _lease_report(leases, expiry, replies)


def write_server_state(
    server_key: str, workers_key: str, info: bytes, workers: dict[str, bytes], *, now: float, ttl_s: int
) -> Plan[None]:
    """Write a server's heartbeat: its info, its workers, and their entries in the global zsets."""
    yield from _send(_server_state_calls(server_key, workers_key, info, workers, now=now, ttl_s=ttl_s))


def heartbeat(
    server_key: str,
    workers_key: str,
    info: bytes,
    workers: dict[str, bytes],
    leases: dict[str, list[str]],
    *,
    marker: tuple[str, str],
    now: float,
    ttl_s: int,
    lease_s: int,
) -> Plan[tuple[LeaseReport, AsynqError | None]]:
    """Write the server state, its asynq-py marker, and extend the leases in one round trip.

    ``marker`` is the key and value that tell this server is asynq-py (``keys.server_marker_key``),
    written with the server info's TTL. Returns the lease report and the error that kept the
    server state from being written, if any: on a cluster the two live on different nodes, and one
    may fail while the other succeeds.
    """
    expiry = int(now) + lease_s
    state = [
        *_server_state_calls(server_key, workers_key, info, workers, now=now, ttl_s=ttl_s),
        Command(("SET", marker[0], marker[1], "EX", ttl_s)),
    ]
    replies = yield Batch((*state, *_lease_calls(leases, expiry)))
    state_error = next((r for r in replies[: len(state)] if isinstance(r, AsynqError)), None)
    return _lease_report(leases, expiry, replies[len(state) :]), state_error


def clear_server_state(server_key: str, workers_key: str, marker_key: str) -> Plan[None]:
    """Remove a server's heartbeat records and its marker at shutdown."""
    yield from _send(
        [
            Command(("ZREM", keys.ALL_SERVERS, server_key)),
            Command(("ZREM", keys.ALL_WORKERS, workers_key)),
            Script("clear_server_state", (server_key, workers_key), ()),
            Command(("DEL", marker_key)),
        ]
    )


# Scheduler

SCHEDULER_HISTORY_MAX = 1000
"""Enqueue events kept per scheduler entry (Go's cap)."""


def write_scheduler_entries(
    scheduler_key: str, entries: Sequence[bytes], *, now: float, ttl_s: int
) -> Plan[None]:
    """Publish a scheduler's entries (``SchedulerEntry`` bytes) for ``ttl_s`` s (docs/wire.md §4.1.18)."""
    yield from _send(
        [
            Command(("ZADD", keys.ALL_SCHEDULERS, int(now) + ttl_s, scheduler_key)),
            Script("write_scheduler_entries", (scheduler_key,), (ttl_s, *entries)),
        ]
    )


def clear_scheduler_entries(scheduler_key: str) -> Plan[None]:
    """Withdraw a scheduler's entries at shutdown."""
    yield from _send([Command(("ZREM", keys.ALL_SCHEDULERS, scheduler_key)), Command(("DEL", scheduler_key))])


def record_scheduler_event(
    entry_id: str, event: bytes, *, enqueued_at: float, max_events: int = SCHEDULER_HISTORY_MAX
) -> Plan[None]:
    """Add an enqueue event (``SchedulerEnqueueEvent`` bytes) to an entry's history, keeping the newest."""
    yield Script(
        "record_scheduler_event",
        (keys.scheduler_history_key(entry_id),),
        (int(enqueued_at), event, max_events),
    )


def clear_scheduler_history(entry_ids: Sequence[str]) -> Plan[None]:
    """Delete the enqueue history of the given entries (one DEL each: the keys share no hash slot)."""
    yield from _send([Command(("DEL", keys.scheduler_history_key(e))) for e in entry_ids])
