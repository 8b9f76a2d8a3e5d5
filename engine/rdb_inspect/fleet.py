"""Plans that read the fleet from its heartbeats: live servers with their workers, and schedulers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .. import keys
from ..calls import Batch, Command, Plan, Script, raise_failed
from ..errors import DecodeError, ValidationError
from ..wire import decode_scheduler_entry, decode_scheduler_event, decode_server_info, decode_worker_info

if TYPE_CHECKING:
    # The records are imported by the plans that build them: the info module's dataclasses take
    # about 10 ms to define, which listing or finding tasks (asynq-py ls, inspect) need not pay.
    from ..info import SchedulerEnqueueEvent, SchedulerEntryInfo, ServerInfo, WorkerInfo

__all__ = ["SERVER_INFO_TTL_S", "list_scheduler_events", "scheduler_entries", "servers"]


def _live_keys(zset: str, now: float) -> Script:
    return Script("list_live_keys", (zset,), (int(now),))


def servers(*, now: float) -> Plan[list[ServerInfo]]:
    """Return the servers with a live heartbeat, with the tasks they run, sorted by host and pid."""
    from ..info import ServerInfo, WorkerInfo

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
    from ..info import SchedulerEntryInfo

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
    from ..info import SchedulerEnqueueEvent

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
