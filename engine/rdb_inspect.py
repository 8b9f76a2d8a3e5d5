"""Plans for the inspector: reads and admin changes of queues, tasks, servers and schedulers.

Follows Go asynq's ``internal/rdb/inspect.go`` (docs/wire.md §4.2-4.3). Every queue operation except
pause, unpause and cancel first checks that the queue exists, in the same round trip as its work.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import keys
from .calls import Batch, Command, EachPrimary, Plan, Script, raise_failed
from .errors import (
    AsynqError,
    DecodeError,
    QueueNotEmptyError,
    QueueNotFoundError,
    TaskNotFoundError,
    TaskStateError,
    ValidationError,
)
from .rdb import ARCHIVE_MAX_AGE_S, ARCHIVE_MAX_SIZE
from .task import TaskInfo, TaskState, task_info_from_message, undecodable_task_info
from .wire import (
    TaskMessage,
    decode_scheduler_entry,
    decode_scheduler_event,
    decode_server_info,
    decode_stored_task,
    decode_worker_info,
    encode_task_message,
)

if TYPE_CHECKING:
    # The records are imported by the plans that build them: their ten dataclasses take about
    # 10 ms to define, which listing or finding tasks (asynq-py ls, inspect) need not pay.
    from .info import (
        BulkProgress,
        DailyStats,
        GroupInfo,
        QueueInfo,
        SchedulerEnqueueEvent,
        SchedulerEntryInfo,
        ServerInfo,
        WorkerInfo,
    )

__all__ = [
    "ARCHIVE_CHUNK",
    "BULK_CHUNK",
    "Progress",
    "archive_all",
    "archive_task",
    "cancel_processing",
    "cluster_key_slot",
    "cluster_nodes",
    "delete_all",
    "delete_queue",
    "delete_task",
    "find_task",
    "get_queue_info",
    "get_task_info",
    "groups",
    "history",
    "list_scheduler_events",
    "list_tasks",
    "pause_queue",
    "queue_infos",
    "queues",
    "redis_info",
    "redis_info_by_node",
    "run_all",
    "run_task",
    "scheduler_entries",
    "servers",
    "unpause_queue",
    "update_task_payload",
]

Progress = Callable[["BulkProgress"], None]
"""Called after each chunk of a bulk operation with the figures so far."""

_ZSET_STATES = (TaskState.SCHEDULED, TaskState.RETRY, TaskState.ARCHIVED, TaskState.COMPLETED)


def _exists(queue: str) -> Command:
    return Command(("SISMEMBER", keys.ALL_QUEUES, queue))


def _check(queue: str, reply: Any) -> None:
    if isinstance(reply, Exception):
        raise reply
    if not reply:
        raise QueueNotFoundError(f"queue {queue!r} not found", queue=queue)


def queues() -> Plan[list[str]]:
    """Return every queue name, sorted."""
    names = yield Command(("SMEMBERS", keys.ALL_QUEUES))
    return sorted(n.decode() for n in names)


def _queue_info_calls(queue: str, when: datetime) -> tuple[Script, Script]:
    """The two scripts that read a queue's counters and its sampled memory usage."""
    return (
        Script(
            "current_stats",
            (
                keys.pending_key(queue),
                keys.active_key(queue),
                keys.scheduled_key(queue),
                keys.retry_key(queue),
                keys.archived_key(queue),
                keys.completed_key(queue),
                keys.processed_key(queue, when),
                keys.failed_key(queue, when),
                keys.processed_total_key(queue),
                keys.failed_total_key(queue),
                keys.paused_key(queue),
                keys.groups_key(queue),
                keys.parked_types_key(queue),
            ),
            (keys.task_key_prefix(queue), keys.group_key_prefix(queue), keys.parked_key(queue, "")),
        ),
        Script(
            "memory_usage",
            (
                keys.active_key(queue),
                keys.pending_key(queue),
                keys.scheduled_key(queue),
                keys.retry_key(queue),
                keys.archived_key(queue),
                keys.completed_key(queue),
                keys.groups_key(queue),
                keys.parked_types_key(queue),
            ),
            (keys.task_key_prefix(queue), 20, 5, keys.group_key_prefix(queue), keys.parked_key(queue, "")),
        ),
    )


def _parse_queue_info(queue: str, stats_reply: Any, memory_reply: Any, now: float) -> QueueInfo:
    from .info import QueueInfo

    raise_failed((stats_reply, memory_reply))
    stats = {stats_reply[i].decode(): int(stats_reply[i + 1] or 0) for i in range(0, len(stats_reply), 2)}
    since_ns = stats["oldest_pending_since"]
    latency = timedelta(microseconds=max(0, now * 1e9 - since_ns) / 1000) if since_ns else timedelta(0)
    sizes = ("pending", "active", "scheduled", "retry", "archived", "completed", "aggregating_count")
    return QueueInfo(
        queue=queue,
        memory_usage=int(memory_reply),
        latency=latency,
        size=sum(stats[s] for s in sizes),
        groups=stats["group_size"],
        pending=stats["pending"],
        active=stats["active"],
        scheduled=stats["scheduled"],
        retry=stats["retry"],
        archived=stats["archived"],
        completed=stats["completed"],
        aggregating=stats["aggregating_count"],
        processed=stats["processed_today"],
        failed=stats["failed_today"],
        processed_total=stats["processed_total"],
        failed_total=stats["failed_total"],
        paused=bool(stats["paused"]),
        timestamp=datetime.fromtimestamp(now, UTC),
    )


def get_queue_info(queue: str, *, now: float) -> Plan[QueueInfo]:
    """Return the queue's sizes and counters; raise ``QueueNotFoundError``."""
    replies = yield Batch((_exists(queue), *_queue_info_calls(queue, datetime.fromtimestamp(now, UTC))))
    _check(queue, replies[0])
    return _parse_queue_info(queue, replies[1], replies[2], now)


def queue_infos(*, now: float) -> Plan[list[QueueInfo]]:
    """Return every queue's info, sorted by name: the names, then every queue in one round trip."""
    names = yield from queues()
    if not names:
        return []
    when = datetime.fromtimestamp(now, UTC)
    replies = yield Batch(tuple(call for q in names for call in _queue_info_calls(q, when)))
    return [_parse_queue_info(q, replies[2 * i], replies[2 * i + 1], now) for i, q in enumerate(names)]


def history(queue: str, days: int, *, now: float) -> Plan[list[DailyStats]]:
    """Return processed and failed counts for the last ``days`` UTC days, today first."""
    from .info import DailyStats

    if days < 1:
        raise ValidationError("history needs at least one day")
    today = datetime.fromtimestamp(now, UTC)
    dates = [today - timedelta(days=i) for i in range(days)]
    calls: list[Command | Script] = [_exists(queue)]
    for d in dates:
        calls += [Command(("GET", keys.processed_key(queue, d))), Command(("GET", keys.failed_key(queue, d)))]
    replies = yield Batch(tuple(calls))
    _check(queue, replies[0])
    raise_failed(replies[1:])
    return [
        DailyStats(queue, int(replies[1 + 2 * i] or 0), int(replies[2 + 2 * i] or 0), d.date())
        for i, d in enumerate(dates)
    ]


def groups(queue: str) -> Plan[list[GroupInfo]]:
    """Return the queue's groups with their sizes, sorted by name."""
    from .info import GroupInfo

    replies = yield Batch((_exists(queue), Command(("SMEMBERS", keys.groups_key(queue)))))
    _check(queue, replies[0])
    names = sorted(n.decode() for n in replies[1])
    if not names:
        return []
    sizes = yield Batch(tuple(Command(("ZCARD", keys.group_key(queue, g))) for g in names))
    raise_failed(sizes)
    return [GroupInfo(g, int(n)) for g, n in zip(names, sizes, strict=True)]


def _score_pairs(reply: list[Any]) -> list[tuple[str, float]]:
    """Parse a WITHSCORES reply, flat (RESP2) or already paired (RESP3, some clients)."""
    if reply and isinstance(reply[0], list | tuple):
        return [(m.decode(), float(sc)) for m, sc in reply]
    return [(reply[i].decode(), float(reply[i + 1])) for i in range(0, len(reply), 2)]


def _decode_infos(
    queue: str, state: TaskState, ids: list[str], reply: list[bytes], scores: list[float], orphans: set[str]
) -> list[TaskInfo]:
    out: list[TaskInfo] = []
    for i, task_id in enumerate(ids):
        data, result = reply[2 * i], reply[2 * i + 1]
        if not data:
            continue
        try:
            msg = decode_stored_task(data, queue, task_id)
        except DecodeError as exc:
            out.append(
                undecodable_task_info(task_id, queue, state, data, str(exc), next_process_at=scores[i])
            )
            continue
        out.append(
            task_info_from_message(
                msg,
                state,
                next_process_at=scores[i],
                result=result or None,
                is_orphaned=task_id in orphans,
            )
        )
    return out


def list_tasks(
    queue: str, state: TaskState, *, page: int, page_size: int, now: float, group: str | None = None
) -> Plan[list[TaskInfo]]:
    """Return one page (1-based) of the queue's tasks in ``state``, in Go's order.

    Pending and active tasks come in dequeue order (pending: the tasks a type limit parked first,
    docs/wire.md §2.3); the others by score (due, archive or expiry time); aggregating tasks need
    ``group``. Undecodable tasks are skipped.
    """
    if page < 1 or page_size < 1:
        raise ValidationError("page and page size must be at least 1")
    start = (page - 1) * page_size
    stop = start + page_size - 1
    calls: list[Command | Script] = [_exists(queue)]
    if state is TaskState.PENDING:
        calls.append(
            Script(
                "list_pending",
                (keys.pending_key(queue), keys.parked_types_key(queue)),
                (keys.parked_key(queue, ""), start, stop),
            )
        )
    elif state is TaskState.ACTIVE:
        calls.append(Command(("LRANGE", keys.active_key(queue), -(stop + 1), -(start + 1))))
    elif state is TaskState.AGGREGATING:
        if not group:
            raise ValidationError("listing aggregating tasks needs a group")
        calls.append(Command(("ZRANGE", keys.group_key(queue, group), start, stop, "WITHSCORES")))
    else:
        calls.append(Command(("ZRANGE", keys.state_key(queue, state), start, stop, "WITHSCORES")))
    if state is TaskState.ACTIVE:
        calls.append(Command(("ZRANGE", keys.lease_key(queue), "-inf", int(now), "BYSCORE")))
    replies = yield Batch(tuple(calls))
    _check(queue, replies[0])
    raise_failed(replies[1:])
    orphans: set[str] = set()
    if state is TaskState.PENDING:
        ids = [i.decode() for i in replies[1]]
        scores = [now] * len(ids)
    elif state is TaskState.ACTIVE:
        ids = [i.decode() for i in reversed(replies[1])]
        scores = [0.0] * len(ids)
        orphans = {i.decode() for i in replies[2]}
    else:
        pairs = _score_pairs(replies[1])
        ids = [member for member, _ in pairs]
        due = state in (TaskState.SCHEDULED, TaskState.RETRY)
        scores = [score if due else 0.0 for _, score in pairs]
    if not ids:
        return []
    reply = yield Script("list_messages", (keys.pending_key(queue),), (keys.task_key_prefix(queue), *ids))
    return _decode_infos(queue, state, ids, reply, scores, orphans)


def get_task_info(queue: str, task_id: str, *, now: float) -> Plan[TaskInfo]:
    """Return one task; raise ``QueueNotFoundError`` or ``TaskNotFoundError``."""
    reply = yield from _task_reply(queue, task_id, now)
    return _parse_task_info(queue, task_id, reply)


def _task_reply(queue: str, task_id: str, now: float) -> Plan[list[Any]]:
    """Return the get_task_info script's reply: [msg, state, next process time, result]."""
    replies = yield Batch(
        (
            _exists(queue),
            Script(
                "get_task_info",
                (keys.task_key(queue, task_id),),
                (task_id, int(now), keys.queue_key_prefix(queue)),
            ),
        )
    )
    _check(queue, replies[0])
    reply = replies[1]
    if isinstance(reply, AsynqError):
        if "NOT FOUND" in str(reply):
            raise TaskNotFoundError(
                f"task {task_id!r} not found in queue {queue!r}", queue=queue, task_id=task_id
            )
        raise reply
    return list(reply)


def _decode(queue: str, task_id: str, data: bytes) -> TaskMessage:
    try:
        return decode_stored_task(data, queue, task_id)
    except DecodeError as exc:
        raise DecodeError(str(exc), queue=queue, task_id=task_id) from exc


def _parse_task_info(queue: str, task_id: str, reply: list[Any]) -> TaskInfo:
    data, state, next_at, result = reply
    msg = _decode(queue, task_id, data)
    return task_info_from_message(
        msg, TaskState(state.decode()), next_process_at=float(next_at or 0), result=result or None
    )


def find_task(task_id: str, *, now: float) -> Plan[list[TaskInfo]]:
    """Return the task with this id from every queue that holds one."""
    names = yield from queues()
    if not names:
        return []
    replies = yield Batch(
        tuple(
            Script(
                "get_task_info", (keys.task_key(q, task_id),), (task_id, int(now), keys.queue_key_prefix(q))
            )
            for q in names
        )
    )
    found: list[TaskInfo] = []
    for q, reply in zip(names, replies, strict=True):
        if isinstance(reply, AsynqError):
            if "NOT FOUND" in str(reply):
                continue
            raise reply
        found.append(_parse_task_info(q, task_id, reply))
    return found


def cancel_processing(task_id: str) -> Plan[None]:
    """Publish a cancellation for ``task_id`` to every server."""
    yield Command(("PUBLISH", keys.CANCEL_CHANNEL, task_id))


def _task_code(queue: str, task_id: str, replies: list[Any], messages: dict[int, str]) -> None:
    _check(queue, replies[0])
    code = replies[1]
    if isinstance(code, Exception):
        raise code
    if code == 0:
        raise TaskNotFoundError(
            f"task {task_id!r} not found in queue {queue!r}", queue=queue, task_id=task_id
        )
    if code in messages:
        raise TaskStateError(messages[code], queue=queue, task_id=task_id)


def run_task(queue: str, task_id: str) -> Plan[None]:
    """Move a task to pending; raise ``TaskNotFoundError`` or ``TaskStateError`` (active, pending)."""
    replies = yield Batch(
        (
            _exists(queue),
            Script(
                "run_task",
                (keys.task_key(queue, task_id), keys.pending_key(queue), keys.groups_key(queue)),
                (
                    task_id,
                    keys.queue_key_prefix(queue),
                    keys.group_key_prefix(queue),
                    keys.wake_channel(queue),
                ),
            ),
        )
    )
    _task_code(
        queue, task_id, replies, {-1: "task is already running", -2: "task is already in pending state"}
    )


def archive_task(queue: str, task_id: str, *, now: float) -> Plan[None]:
    """Archive a task; raise ``TaskNotFoundError`` or ``TaskStateError`` (active, archived)."""
    replies = yield Batch(
        (
            _exists(queue),
            Script(
                "archive_task",
                (
                    keys.task_key(queue, task_id),
                    keys.archived_key(queue),
                    keys.groups_key(queue),
                    keys.parked_types_key(queue),
                ),
                (
                    task_id,
                    int(now),
                    int(now) - ARCHIVE_MAX_AGE_S,
                    ARCHIVE_MAX_SIZE,
                    keys.queue_key_prefix(queue),
                    keys.group_key_prefix(queue),
                    keys.task_key_prefix(queue),
                    keys.parked_key(queue, ""),
                ),
            ),
        )
    )
    _task_code(
        queue,
        task_id,
        replies,
        {-1: "task is already archived", -2: "cannot archive task in active state. use cancel instead."},
    )


def delete_task(queue: str, task_id: str) -> Plan[None]:
    """Delete a task; raise ``TaskNotFoundError`` or ``TaskStateError`` (active)."""
    replies = yield Batch(
        (
            _exists(queue),
            Script(
                "delete_task",
                (keys.task_key(queue, task_id), keys.groups_key(queue), keys.parked_types_key(queue)),
                (
                    task_id,
                    keys.queue_key_prefix(queue),
                    keys.group_key_prefix(queue),
                    keys.parked_key(queue, ""),
                ),
            ),
        )
    )
    _task_code(queue, task_id, replies, {-1: "cannot delete task in active state. use cancel instead."})


def update_task_payload(queue: str, task_id: str, payload: bytes, *, now: float) -> Plan[None]:
    """Replace a scheduled task's payload; raise ``TaskNotFoundError`` or ``TaskStateError``."""
    data, state, _, _ = yield from _task_reply(queue, task_id, now)
    if state != b"scheduled":
        raise TaskStateError(
            "cannot update task that is not in scheduled state.", queue=queue, task_id=task_id
        )
    msg = _decode(queue, task_id, data)
    msg.payload = payload
    code = yield Script("update_task_payload", (keys.task_key(queue, task_id),), (encode_task_message(msg),))
    _task_code(queue, task_id, [1, code], {-1: "cannot update task that is not in scheduled state."})


def _source_key(queue: str, state: TaskState, group: str | None) -> str:
    if state is TaskState.AGGREGATING:
        if not group:
            raise ValidationError("aggregating tasks are addressed by group")
        return keys.group_key(queue, group)
    return keys.state_key(queue, state)


BULK_CHUNK = 1_000
"""Most tasks one script call of a bulk operation moves or deletes, so that none blocks Redis for long."""
ARCHIVE_CHUNK = BULK_CHUNK // 2
"""The same for archiving, which also deletes the tasks the full archive drops: twice the work a task
(at 1M pending, 1,000 a call took up to 27 ms of Redis CPU, twice the other operations' 13 ms)."""


def _source_size(queue: str, source: str, *, is_list: bool) -> Plan[int]:
    """Check the queue exists and return how many tasks ``source`` holds now."""
    replies = yield Batch((_exists(queue), Command(("LLEN" if is_list else "ZCARD", source))))
    _check(queue, replies[0])
    raise_failed(replies[1:])
    return int(replies[1])


def _chunks(
    queue: str,
    source: str,
    chunk: Script,
    *,
    is_list: bool,
    progress: Progress | None,
    before: BulkProgress | None = None,
) -> Plan[BulkProgress]:
    """Run ``chunk`` until the source is empty or as many tasks as it held at the start were moved.

    Each call is atomic, so an operation stopped between two calls leaves every task in one state.
    ``before`` is the progress of the sources done earlier in the same operation.
    """
    from .info import BulkProgress

    before = before or BulkProgress(0, 0, 0)
    total = before.total + (yield from _source_size(queue, source, is_list=is_list))
    done = BulkProgress(before.done, total, before.dropped)
    while done.done < total:
        moved, dropped, left = (int(x) for x in (yield chunk))
        done = BulkProgress(done.done + moved, max(total, done.done + moved), done.dropped + dropped)
        if progress is not None:
            progress(done)
        if moved == 0 or left == 0:
            break
    return done


def _pending_chunks(
    queue: str, chunk: Callable[[str], Script], progress: Progress | None
) -> Plan[BulkProgress]:
    """Run ``chunk(source)`` over the pending list, then over the parked lists (docs/wire.md §2.3).

    The parked types are read after pending is done, so that a task a server parked meanwhile (it
    can only come from pending) is still found.
    """
    pending = keys.pending_key(queue)
    done = yield from _chunks(queue, pending, chunk(pending), is_list=True, progress=progress)
    types = yield Command(("SMEMBERS", keys.parked_types_key(queue)))
    for task_type in sorted(t.decode() for t in types):
        source = keys.parked_key(queue, task_type)
        done = yield from _chunks(queue, source, chunk(source), is_list=True, progress=progress, before=done)
    return done


def run_all(
    queue: str, state: TaskState, *, group: str | None = None, progress: Progress | None = None
) -> Plan[int]:
    """Move every scheduled, retry, archived or (group's) aggregating task to pending; return how many."""
    if state not in (TaskState.SCHEDULED, TaskState.RETRY, TaskState.ARCHIVED, TaskState.AGGREGATING):
        raise ValidationError(f"cannot run all {state} tasks")
    grouped = state is TaskState.AGGREGATING
    source = _source_key(queue, state, group)
    script = Script(
        "run_all",
        (source, keys.pending_key(queue), *((keys.groups_key(queue),) if grouped else ())),
        (
            keys.task_key_prefix(queue),
            keys.wake_channel(queue),
            BULK_CHUNK,
            *((group or "",) if grouped else ()),
        ),
    )
    done = yield from _chunks(queue, source, script, is_list=False, progress=progress)
    return done.done


def archive_all(
    queue: str,
    state: TaskState,
    *,
    now: float,
    group: str | None = None,
    progress: Progress | None = None,
) -> Plan[int]:
    """Archive every pending, scheduled, retry or (group's) aggregating task; return how many.

    The archive keeps Go's limits (``ARCHIVE_MAX_SIZE`` tasks, ``ARCHIVE_MAX_AGE_S``); the tasks they
    drop are deleted, and ``progress`` counts them in ``dropped``.
    """
    if state not in (TaskState.PENDING, TaskState.SCHEDULED, TaskState.RETRY, TaskState.AGGREGATING):
        raise ValidationError(f"cannot archive all {state} tasks")
    grouped = state is TaskState.AGGREGATING

    def chunk(source: str) -> Script:
        return Script(
            "archive_all",
            (source, keys.archived_key(queue), *((keys.groups_key(queue),) if grouped else ())),
            (
                int(now),
                int(now) - ARCHIVE_MAX_AGE_S,
                ARCHIVE_MAX_SIZE,
                keys.task_key_prefix(queue),
                ARCHIVE_CHUNK,
                *((group or "",) if grouped else ()),
            ),
        )

    if state is TaskState.PENDING:
        done = yield from _pending_chunks(queue, chunk, progress)
    else:
        source = _source_key(queue, state, group)
        done = yield from _chunks(queue, source, chunk(source), is_list=False, progress=progress)
    return done.done


def _delete_chunk(queue: str, source: str, *, release_unique: bool, group: str | None) -> Script:
    return Script(
        "delete_all",
        (source, *((keys.groups_key(queue),) if group is not None else ())),
        (
            keys.task_key_prefix(queue),
            int(release_unique),
            BULK_CHUNK,
            *((group,) if group is not None else ()),
        ),
    )


def delete_all(
    queue: str, state: TaskState, *, group: str | None = None, progress: Progress | None = None
) -> Plan[int]:
    """Delete every task of a state (not active); return how many."""
    if state is TaskState.ACTIVE:
        raise ValidationError("cannot delete active tasks; cancel them instead")
    if state is TaskState.PENDING:
        done = yield from _pending_chunks(queue, _pending_delete_chunk(queue), progress)
        return done.done
    source = _source_key(queue, state, group)
    script = _delete_chunk(
        queue,
        source,
        release_unique=state in _ZSET_STATES,
        group=(group or "") if state is TaskState.AGGREGATING else None,
    )
    done = yield from _chunks(queue, source, script, is_list=False, progress=progress)
    return done.done


def _pending_delete_chunk(queue: str) -> Callable[[str], Script]:
    """The delete chunk of a pending or parked list (Go keeps unique locks of pending tasks)."""
    return lambda source: _delete_chunk(queue, source, release_unique=False, group=None)


_REMOVED_WITH_QUEUE = (TaskState.SCHEDULED, TaskState.RETRY, TaskState.ARCHIVED)
"""The zsets whose tasks a forced queue removal deletes after the pending ones (Go's removeQueueForceCmd)."""


def delete_queue(queue: str, *, force: bool) -> Plan[None]:
    """Remove a queue; raise ``QueueNotFoundError``, ``QueueNotEmptyError`` or ``TaskStateError``.

    With ``force`` the tasks are deleted in chunks first, so no call blocks Redis for long.
    """
    replies = yield Batch((_exists(queue), Command(("LLEN", keys.active_key(queue)))))
    _check(queue, replies[0])
    raise_failed(replies[1:])
    if force and int(replies[1]) > 0:
        raise TaskStateError(f"cannot remove queue {queue!r} with active tasks", queue=queue)
    if force:
        yield from _pending_chunks(queue, _pending_delete_chunk(queue), None)
        for state in _REMOVED_WITH_QUEUE:
            source = keys.state_key(queue, state)
            script = _delete_chunk(queue, source, release_unique=False, group=None)
            yield from _chunks(queue, source, script, is_list=False, progress=None)
    replies = yield Batch(
        (
            _exists(queue),
            Script(
                "remove_queue",
                (
                    keys.pending_key(queue),
                    keys.active_key(queue),
                    keys.scheduled_key(queue),
                    keys.retry_key(queue),
                    keys.archived_key(queue),
                    keys.lease_key(queue),
                    keys.parked_types_key(queue),
                ),
                (keys.task_key_prefix(queue), int(force), keys.parked_key(queue, "")),
            ),
        )
    )
    _check(queue, replies[0])
    code = replies[1]
    if isinstance(code, Exception):
        raise code
    if code == -1:
        raise QueueNotEmptyError(f"queue {queue!r} is not empty", queue=queue)
    if code == -2:
        raise TaskStateError(f"cannot remove queue {queue!r} with active tasks", queue=queue)
    yield Command(("SREM", keys.ALL_QUEUES, queue))


def pause_queue(queue: str, *, now: float) -> Plan[None]:
    """Pause a queue; raise ``TaskStateError`` if it is already paused."""
    ok = yield Command(("SET", keys.paused_key(queue), int(now), "NX"))
    if not ok:
        raise TaskStateError(f"queue {queue!r} is already paused", queue=queue)


def unpause_queue(queue: str) -> Plan[bool]:
    """Unpause a queue and wake idle asynq-py servers; raise ``TaskStateError`` if it is not paused.

    Return whether the wake-up went out: it is best effort (as in the scripts, which publish with
    ``pcall``), so a Redis user denied the wake channel still unpauses.
    """
    replies = yield Batch(
        (Command(("DEL", keys.paused_key(queue))), Command(("PUBLISH", keys.wake_channel(queue), "1")))
    )
    raise_failed(replies[:1])
    if not replies[0]:
        raise TaskStateError(f"queue {queue!r} is not paused", queue=queue)
    return not isinstance(replies[1], Exception)


def _live_keys(zset: str, now: float) -> Script:
    return Script("list_live_keys", (zset,), (int(now),))


def servers(*, now: float) -> Plan[list[ServerInfo]]:
    """Return the servers with a live heartbeat, with the tasks they run, sorted by host and pid."""
    from .info import ServerInfo, WorkerInfo

    replies = yield Batch((_live_keys(keys.ALL_SERVERS, now), _live_keys(keys.ALL_WORKERS, now)))
    raise_failed(replies)
    server_keys, worker_keys = replies
    calls = (
        [Command(("GET", k)) for k in server_keys]
        + [Command(("HVALS", k)) for k in worker_keys]
        + [Command(("ZSCORE", keys.ALL_SERVERS, k)) for k in server_keys]
    )
    if not calls:
        return []
    data = yield Batch(tuple(calls))
    expiries = data[len(server_keys) + len(worker_keys) :]
    workers: dict[str, list[WorkerInfo]] = {}
    for values in data[len(server_keys) : len(server_keys) + len(worker_keys)]:
        for raw in values if isinstance(values, list) else ():
            try:
                w = decode_worker_info(raw)
            except DecodeError:
                continue
            workers.setdefault(w.server_id, []).append(
                WorkerInfo(w.task_id, w.task_type, w.task_payload, w.queue, w.started, w.deadline)
            )
    out: list[ServerInfo] = []
    for raw, expiry in zip(data[: len(server_keys)], expiries, strict=True):
        if not isinstance(raw, bytes):
            continue
        try:
            s = decode_server_info(raw)
        except DecodeError:
            continue
        out.append(
            ServerInfo(
                id=s.server_id,
                host=s.host,
                pid=s.pid,
                concurrency=s.concurrency,
                queues=s.queues,
                strict_priority=s.strict_priority,
                started=s.started,
                status=s.status,
                last_heartbeat=_beat_time(expiry),
                active_workers=sorted(
                    workers.get(s.server_id, []), key=lambda w: w.started or datetime.min.replace(tzinfo=UTC)
                ),
            )
        )
    return sorted(out, key=lambda s: (s.host, s.pid, s.id))


SERVER_INFO_TTL_S = 10
"""TTL a heartbeat is written with (2 x Go's 5 s interval), to tell when it was written."""


def _beat_time(expiry: Any) -> datetime | None:
    if expiry is None or isinstance(expiry, Exception):
        return None
    return datetime.fromtimestamp(float(expiry) - SERVER_INFO_TTL_S, UTC)


def scheduler_entries(*, now: float) -> Plan[list[SchedulerEntryInfo]]:
    """Return the entries of every live scheduler, sorted by spec."""
    from .info import SchedulerEntryInfo

    scheduler_keys = yield _live_keys(keys.ALL_SCHEDULERS, now)
    if not scheduler_keys:
        return []
    lists = yield Batch(tuple(Command(("LRANGE", k, 0, -1)) for k in scheduler_keys))
    out: list[SchedulerEntryInfo] = []
    for key, items in zip(scheduler_keys, lists, strict=True):
        scheduler_id = key.decode().partition("{")[2].rstrip("}")
        for raw in items if isinstance(items, list) else ():
            try:
                e = decode_scheduler_entry(raw)
            except DecodeError:
                continue
            out.append(
                SchedulerEntryInfo(
                    e.id,
                    e.spec,
                    e.task_type,
                    e.task_payload,
                    e.enqueue_options,
                    e.next_enqueue,
                    e.prev_enqueue,
                    scheduler_id,
                )
            )
    return sorted(out, key=lambda e: (e.spec, e.id))


def list_scheduler_events(entry_id: str, *, page: int, page_size: int) -> Plan[list[SchedulerEnqueueEvent]]:
    """Return one page (1-based) of an entry's enqueue events, newest first."""
    from .info import SchedulerEnqueueEvent

    if page < 1 or page_size < 1:
        raise ValidationError("page and page size must be at least 1")
    start = (page - 1) * page_size
    items = yield Command(("ZREVRANGE", keys.scheduler_history_key(entry_id), start, start + page_size - 1))
    out: list[SchedulerEnqueueEvent] = []
    for raw in items:
        try:
            e = decode_scheduler_event(raw)
        except DecodeError:
            continue
        out.append(SchedulerEnqueueEvent(e.task_id, e.enqueued_at))
    return out


def redis_info() -> Plan[dict[str, str]]:
    """Return the server's ``INFO`` fields (version, memory, clients, ...) as strings."""
    raw = yield Command(("INFO",))
    return _info_fields(raw)


def redis_info_by_node() -> Plan[dict[str, dict[str, str]]]:
    """Return the ``INFO`` fields of every primary ("host:port" → fields; one entry, named "",
    outside a cluster). Raises the first node's error if a node could not answer."""
    replies = yield EachPrimary(Command(("INFO",)))
    raise_failed(list(replies.values()))
    return {node: _info_fields(raw) for node, raw in sorted(replies.items())}


def _info_fields(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    info: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            info[key] = value
    return info


def cluster_key_slot(queue: str) -> Plan[int]:
    """Return the Redis Cluster hash slot of the queue's keys."""
    slot = yield Command(("CLUSTER", "KEYSLOT", keys.pending_key(queue)))
    return int(slot)


def cluster_nodes(queue: str) -> Plan[list[tuple[str, str]]]:
    """Return (node id, "host:port") of the cluster nodes serving the queue's slot."""
    slot = yield from cluster_key_slot(queue)
    ranges = yield Command(("CLUSTER", "SLOTS"))
    nodes: list[tuple[str, str]] = []
    for entry in ranges:
        start, end, *servers = entry
        if int(start) <= slot <= int(end):
            for server in servers:
                host, port = server[0], server[1]
                node_id = server[2] if len(server) > 2 else b""
                host_text = host.decode() if isinstance(host, bytes) else str(host)
                node_text = node_id.decode() if isinstance(node_id, bytes) else str(node_id)
                nodes.append((node_text, f"{host_text}:{int(port)}"))
    return nodes
