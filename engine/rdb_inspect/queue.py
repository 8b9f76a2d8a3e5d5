"""Plans that read and change a queue as a whole: names, sizes and counters, history, groups, pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import keys
from ..calls import Batch, Command, Plan, Script, raise_failed
from ..errors import TaskStateError, ValidationError
from .guard import check_queue, queue_exists

if TYPE_CHECKING:
    # The records are imported by the plans that build them: the info module's dataclasses take
    # about 10 ms to define, which listing or finding tasks (asynq-py ls, inspect) need not pay.
    from ..info import DailyStats, GroupInfo, QueueInfo

__all__ = ["get_queue_info", "groups", "history", "pause_queue", "queue_infos", "queues", "unpause_queue"]


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
    from ..info import QueueInfo

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
    replies = yield Batch((queue_exists(queue), *_queue_info_calls(queue, datetime.fromtimestamp(now, UTC))))
    check_queue(queue, replies[0])
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
    from ..info import DailyStats

    if days < 1:
        raise ValidationError("history needs at least one day")
    today = datetime.fromtimestamp(now, UTC)
    dates = [today - timedelta(days=i) for i in range(days)]
    calls: list[Command | Script] = [queue_exists(queue)]
    for d in dates:
        calls += [Command(("GET", keys.processed_key(queue, d))), Command(("GET", keys.failed_key(queue, d)))]
    replies = yield Batch(tuple(calls))
    check_queue(queue, replies[0])
    raise_failed(replies[1:])
    return [
        DailyStats(queue, int(replies[1 + 2 * i] or 0), int(replies[2 + 2 * i] or 0), d.date())
        for i, d in enumerate(dates)
    ]


def groups(queue: str) -> Plan[list[GroupInfo]]:
    """Return the queue's groups with their sizes, sorted by name."""
    from ..info import GroupInfo

    replies = yield Batch((queue_exists(queue), Command(("SMEMBERS", keys.groups_key(queue)))))
    check_queue(queue, replies[0])
    names = sorted(n.decode() for n in replies[1])
    if not names:
        return []
    sizes = yield Batch(tuple(Command(("ZCARD", keys.group_key(queue, g))) for g in names))
    raise_failed(sizes)
    return [GroupInfo(g, int(n)) for g, n in zip(names, sizes, strict=True)]


def pause_queue(queue: str, *, now: float) -> Plan[None]:
    """Pause a queue; raise ``TaskStateError`` if it is already paused."""
    ok = yield Command(("SET", keys.paused_key(queue), int(now), "NX"))
    if not ok:
        raise TaskStateError(f"queue {queue!r} is already paused", queue=queue)


def unpause_queue(queue: str) -> Plan[bool]:
    """Unpause a queue and wake idle asynq-py servers; raise ``TaskStateError`` if it is not paused.

    Return whether the wake-up went out (True when nothing is pending): it is best effort (the
    script wakes with ``pcall``), so a Redis user denied the wake channel still unpauses.
    """
    unpaused = yield Script(
        "unpause",
        (keys.paused_key(queue), keys.pending_key(queue), keys.wake_list_key(queue)),
        (keys.wake_channel(queue),),
    )
    if not unpaused:
        raise TaskStateError(f"queue {queue!r} is not paused", queue=queue)
    return bool(unpaused == 1)
