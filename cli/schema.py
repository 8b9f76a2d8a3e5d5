"""The JSON records that ``--json`` prints: one builder per record, and its documented schema.

The schemas are stable: fields may be added, never renamed or removed. A list prints as JSON lines
(one record per line); a single record prints as one line. Conventions:

- times are RFC 3339 in UTC with a ``Z`` (``2026-01-02T15:04:05Z``), or null when unset;
- durations are numbers of seconds in fields ending in ``_s``;
- bytes (payloads, results) are a string plus an ``*_encoding`` field: ``utf-8`` when the bytes are
  valid UTF-8 (the string is the text itself), else ``base64``;
- names are snake_case (Go's ``asynq stats --json`` uses Go field names; ours do not).

``tests/cli/test_schema.py`` checks that every builder emits exactly the documented fields.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .render import error_rate

if TYPE_CHECKING:
    from collections.abc import Sequence

    from asynq_py.engine import (
        DailyStats,
        GroupInfo,
        LimitsInfo,
        QueueInfo,
        Rate,
        SchedulerEnqueueEvent,
        SchedulerEntryInfo,
        ServerInfo,
        TaskInfo,
        TaskLimitInfo,
        WorkerInfo,
    )

__all__ = [
    "SCHEMAS",
    "Field",
    "Schema",
    "cron_entry_record",
    "cron_event_record",
    "daily_record",
    "group_record",
    "limits_record",
    "queue_record",
    "schedule_entry_record",
    "server_record",
    "stats_record",
    "task_record",
    "type_limit_record",
    "worker_record",
]

Record = dict[str, Any]


@dataclass(frozen=True)
class Field:
    """One documented field of a JSON record."""

    name: str
    """The key."""
    type: str
    """Its JSON type, e.g. ``string``, ``integer | null``, ``time``."""
    doc: str
    """What it holds."""


@dataclass(frozen=True)
class Schema:
    """A documented JSON record."""

    name: str
    """The record's name in docs/cli.md."""
    used_by: str
    """Which commands print it."""
    fields: tuple[Field, ...]
    """Its fields, in output order."""


def _time(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _seconds(d: timedelta | None) -> int | None:
    return None if d is None else int(d.total_seconds())


def _bytes(prefix: str, data: bytes | None) -> Record:
    if data is None:
        return {prefix: None, f"{prefix}_encoding": None}
    try:
        return {prefix: data.decode("utf-8"), f"{prefix}_encoding": "utf-8"}
    except UnicodeDecodeError:
        return {prefix: base64.b64encode(data).decode("ascii"), f"{prefix}_encoding": "base64"}


_PAYLOAD = (
    Field("payload", "string", "the payload: its text, or base64 (see payload_encoding)"),
    Field("payload_encoding", "string", "`utf-8` or `base64`"),
)

TASK = Schema(
    "task",
    "`enqueue`, `ls`, `inspect`",
    (
        Field("id", "string", "task id"),
        Field("queue", "string", "queue name"),
        Field("type", "string", "task type"),
        Field("state", "string", "active, pending, scheduled, retry, archived, completed or aggregating"),
        *_PAYLOAD,
        Field("headers", "object", "string headers"),
        Field("max_retry", "integer", "retries allowed"),
        Field("retried", "integer", "retries so far"),
        Field("last_error", "string | null", "message of the last failure"),
        Field("last_failed_at", "time | null", "when it last failed"),
        Field("timeout_s", "integer | null", "time allowed per run"),
        Field("deadline", "time | null", "time by which it must finish"),
        Field("group", "string | null", "aggregation group"),
        Field("next_process_at", "time | null", "when it runs next (pending: when it was enqueued)"),
        Field("retention_s", "integer | null", "how long it is kept once completed"),
        Field("completed_at", "time | null", "when it completed"),
        Field("result", "string | null", "what the handler wrote, as text or base64"),
        Field("result_encoding", "string | null", "`utf-8`, `base64`, or null without a result"),
        Field("is_orphaned", "boolean", "active, but its worker's lease expired"),
        Field(
            "decode_error",
            "string | null",
            "why the stored message does not decode (then the other fields are empty)",
        ),
        Field("raw_size", "integer | null", "bytes of a stored message that does not decode"),
    ),
)


def task_record(info: TaskInfo) -> Record:
    """Return the ``task`` record of ``info``."""
    return {
        "id": info.id,
        "queue": info.queue,
        "type": info.type,
        "state": str(info.state),
        **_bytes("payload", bytes(info.payload)),
        "headers": dict(info.headers),
        "max_retry": info.max_retry,
        "retried": info.retried,
        "last_error": info.last_error or None,
        "last_failed_at": _time(info.last_failed_at),
        "timeout_s": _seconds(info.timeout),
        "deadline": _time(info.deadline),
        "group": info.group or None,
        "next_process_at": _time(info.next_process_at),
        "retention_s": _seconds(info.retention),
        "completed_at": _time(info.completed_at),
        **_bytes("result", info.result),
        "is_orphaned": info.is_orphaned,
        "decode_error": info.decode_error or None,
        "raw_size": info.raw_size if info.decode_error else None,
    }


_COUNTS = (
    Field("pending", "integer", "pending tasks"),
    Field("active", "integer", "active tasks"),
    Field("scheduled", "integer", "scheduled tasks"),
    Field("retry", "integer", "tasks waiting to be retried"),
    Field("archived", "integer", "archived tasks"),
    Field("completed", "integer", "completed tasks kept for their retention"),
    Field("aggregating", "integer", "tasks waiting in groups"),
)
_TODAY = (
    Field("processed", "integer", "tasks processed today (UTC), failures included"),
    Field("failed", "integer", "tasks failed today (UTC)"),
    Field("error_rate", "number | null", "failed / processed today; null when nothing was processed"),
)

QUEUE = Schema(
    "queue",
    "`queues`, `queue inspect`, and `stats` (in `queues`)",
    (
        Field("queue", "string", "queue name"),
        Field("paused", "boolean", "whether servers skip it"),
        Field("size", "integer", "tasks of every state"),
        Field("groups", "integer", "groups with tasks waiting for aggregation"),
        *_COUNTS,
        *_TODAY,
        Field("processed_total", "integer", "tasks processed, all time"),
        Field("failed_total", "integer", "tasks failed, all time"),
        Field("latency_s", "number", "how long the oldest pending task has waited"),
        Field("memory_usage", "integer", "estimated bytes used (sampled)"),
        Field("timestamp", "time", "when these figures were read"),
    ),
)


def queue_record(info: QueueInfo) -> Record:
    """Return the ``queue`` record of ``info``."""
    return {
        "queue": info.queue,
        "paused": info.paused,
        "size": info.size,
        "groups": info.groups,
        "pending": info.pending,
        "active": info.active,
        "scheduled": info.scheduled,
        "retry": info.retry,
        "archived": info.archived,
        "completed": info.completed,
        "aggregating": info.aggregating,
        "processed": info.processed,
        "failed": info.failed,
        "error_rate": error_rate(info.processed, info.failed),
        "processed_total": info.processed_total,
        "failed_total": info.failed_total,
        "latency_s": round(info.latency.total_seconds(), 3),
        "memory_usage": info.memory_usage,
        "timestamp": _time(info.timestamp),
    }


DAILY = Schema(
    "daily",
    "`history`",
    (
        Field("queue", "string", "queue name"),
        Field("date", "string", "the UTC day, `YYYY-MM-DD`"),
        Field("processed", "integer", "tasks processed that day, failures included"),
        Field("failed", "integer", "tasks failed that day"),
        Field("error_rate", "number | null", "failed / processed; null when nothing was processed"),
    ),
)


def daily_record(stats: DailyStats) -> Record:
    """Return the ``daily`` record of ``stats``."""
    return {
        "queue": stats.queue,
        "date": stats.date.isoformat(),
        "processed": stats.processed,
        "failed": stats.failed,
        "error_rate": error_rate(stats.processed, stats.failed),
    }


GROUP = Schema(
    "group",
    "`groups`",
    (
        Field("queue", "string", "queue name"),
        Field("group", "string", "group name"),
        Field("size", "integer", "tasks waiting in the group"),
    ),
)


def group_record(queue: str, info: GroupInfo) -> Record:
    """Return the ``group`` record of ``info``."""
    return {"queue": queue, "group": info.group, "size": info.size}


WORKER = Schema(
    "worker",
    "`servers` (in `workers`)",
    (
        Field("task_id", "string", "id of the task being run"),
        Field("task_type", "string", "its type"),
        Field("queue", "string", "its queue"),
        *_PAYLOAD,
        Field("started", "time | null", "when the worker took it"),
        Field("deadline", "time | null", "when its run times out"),
    ),
)


def worker_record(info: WorkerInfo) -> Record:
    """Return the ``worker`` record of ``info``."""
    return {
        "task_id": info.task_id,
        "task_type": info.task_type,
        "queue": info.queue,
        **_bytes("payload", info.task_payload),
        "started": _time(info.started),
        "deadline": _time(info.deadline),
    }


SERVER = Schema(
    "server",
    "`servers`",
    (
        Field("id", "string", "server id"),
        Field("host", "string", "host name"),
        Field("pid", "integer", "process id"),
        Field("status", "string", "new, active, stopped or closed"),
        Field("concurrency", "integer", "most tasks it runs at once"),
        Field("active_workers", "integer", "tasks it is running"),
        Field("queues", "object", "queue name → priority"),
        Field("strict_priority", "boolean", "whether queues are served in strict priority order"),
        Field("started", "time | null", "when it started"),
        Field(
            "last_heartbeat",
            "time | null",
            "when it last wrote its heartbeat (null until the engine reports it)",
        ),
        Field("workers", "array of worker", "the tasks it is running"),
    ),
)


def server_record(info: ServerInfo, last_heartbeat: datetime | None) -> Record:
    """Return the ``server`` record of ``info``."""
    return {
        "id": info.id,
        "host": info.host,
        "pid": info.pid,
        "status": info.status,
        "concurrency": info.concurrency,
        "active_workers": len(info.active_workers),
        "queues": dict(info.queues),
        "strict_priority": info.strict_priority,
        "started": _time(info.started),
        "last_heartbeat": _time(last_heartbeat),
        "workers": [worker_record(w) for w in info.active_workers],
    }


STATS = Schema(
    "stats",
    "`stats`",
    (
        Field(
            "aggregate",
            "object",
            "totals over all queues: `size`, the seven state counts, `processed`, `failed`, `error_rate` "
            "and `timestamp`, as in the queue record",
        ),
        Field("queues", "array of queue", "one record per queue, sorted by name"),
        Field(
            "redis",
            "object | null",
            "Redis INFO fields (strings) and `keys`; on a cluster summed over the primaries (memory, "
            "clients, keys) with `nodes`; null where INFO is refused",
        ),
        Field(
            "redis_nodes",
            "array of object",
            "each primary's INFO fields with `node` (`host:port`, empty outside a cluster) and `keys`",
        ),
    ),
)


def stats_record(
    queues: Sequence[QueueInfo],
    redis: dict[str, str] | None,
    now: datetime,
    redis_nodes: Sequence[dict[str, str]] = (),
) -> Record:
    """Return the ``stats`` record: totals over ``queues``, each queue, and Redis facts (over all
    primaries of a cluster, and each primary's)."""
    counts = ("size", "pending", "active", "scheduled", "retry", "archived", "completed", "aggregating")
    aggregate: Record = {name: sum(getattr(q, name) for q in queues) for name in counts}
    processed = sum(q.processed for q in queues)
    failed = sum(q.failed for q in queues)
    aggregate.update(
        processed=processed, failed=failed, error_rate=error_rate(processed, failed), timestamp=_time(now)
    )
    return {
        "aggregate": aggregate,
        "queues": [queue_record(q) for q in queues],
        "redis": redis,
        "redis_nodes": list(redis_nodes),
    }


CRON_ENTRY = Schema(
    "cron_entry",
    "`cron ls`",
    (
        Field("id", "string", "entry id"),
        Field("spec", "string", "cron spec or `@every` interval"),
        Field("type", "string", "type of the task it enqueues"),
        *_PAYLOAD,
        Field("options", "array of string", 'enqueue options in Go\'s form, e.g. `Queue("q")`'),
        Field("next_enqueue_at", "time | null", "when it fires next"),
        Field("prev_enqueue_at", "time | null", "when it last fired; null if never"),
    ),
)


def cron_entry_record(entry: SchedulerEntryInfo) -> Record:
    """Return the ``cron_entry`` record of ``entry``."""
    return {
        "id": entry.id,
        "spec": entry.spec,
        "type": entry.task_type,
        **_bytes("payload", entry.task_payload),
        "options": list(entry.options),
        "next_enqueue_at": _time(entry.next_enqueue_at),
        "prev_enqueue_at": _time(entry.prev_enqueue_at),
    }


CRON_EVENT = Schema(
    "cron_event",
    "`cron history`, `schedule history`",
    (
        Field("entry_id", "string", "scheduler entry id"),
        Field("task_id", "string", "id of the task it enqueued"),
        Field("enqueued_at", "time | null", "when"),
    ),
)


def cron_event_record(entry_id: str, event: SchedulerEnqueueEvent) -> Record:
    """Return the ``cron_event`` record of ``event``."""
    return {"entry_id": entry_id, "task_id": event.task_id, "enqueued_at": _time(event.enqueued_at)}


SCHEDULE_ENTRY = Schema(
    "schedule_entry",
    "`schedule ls`, `schedule add`",
    (
        Field(
            "id",
            "string",
            "entry id: the name given with `add --id` (the file's `id`), else derived from the entry",
        ),
        Field(
            "status",
            "string | null",
            "`running` (in the file, published by a live scheduler), `not_running` (in the file, no live "
            "scheduler runs it), `outdated` (a live scheduler runs an older version: it has not reloaded "
            "the file yet), `not_in_file` (a live scheduler runs it, the file does not have it); "
            "null from `schedule add`, which does not read Redis",
        ),
        Field("spec", "string", "cron spec, descriptor or `@every` interval"),
        Field("type", "string", "type of the task it enqueues"),
        *_PAYLOAD,
        Field("options", "array of string", 'enqueue options in Go\'s form, e.g. `Queue("q")`'),
        Field("schedulers", "array of string", "ids (`host:pid:uuid`) of the live schedulers publishing it"),
        Field(
            "next_enqueue_at",
            "time | null",
            "when it fires next: computed from the file's spec for entries in the file, else as a live "
            "scheduler published it (at most a heartbeat, 10 s, ago)",
        ),
        Field(
            "prev_enqueue_at",
            "time | null",
            "when it last fired: the later of what live schedulers published and the entry's newest enqueue "
            "event; null if never or not running",
        ),
    ),
)


def schedule_entry_record(
    entry: SchedulerEntryInfo,
    status: str | None,
    schedulers: Sequence[str],
    next_enqueue_at: datetime | None,
    prev_enqueue_at: datetime | None,
) -> Record:
    """Return the ``schedule_entry`` record of ``entry`` (as the file has it) joined with the live entries."""
    return {
        "id": entry.id,
        "status": status,
        "spec": entry.spec,
        "type": entry.task_type,
        **_bytes("payload", entry.task_payload),
        "options": list(entry.options),
        "schedulers": list(schedulers),
        "next_enqueue_at": _time(next_enqueue_at),
        "prev_enqueue_at": _time(prev_enqueue_at),
    }


_RATE = Field(
    "rate",
    "object | null",
    "the rate limit: `count` starts per `period_ms`, bursts of up to `burst`, and `text` (`100/m`); "
    "null without one",
)
_NEXT_SLOT = Field(
    "next_slot_in_ms",
    "integer | null",
    "ms until the rate allows the next start (0: now); null without a rate",
)

TYPE_LIMIT = Schema(
    "type_limit",
    "`limit ls` (in `types`)",
    (
        Field("type", "string", "task type"),
        Field(
            "concurrency", "integer | null", "at most this many of the type active at once; null: no limit"
        ),
        Field(
            "active", "integer | null", "tasks of the type holding a slot; null without a concurrency limit"
        ),
        Field("parked", "integer", "pending tasks of the type set aside until it has room"),
        _RATE,
        _NEXT_SLOT,
    ),
)


def _rate(rate: Rate | None) -> Record | None:
    if rate is None:
        return None
    return {"count": rate.count, "period_ms": rate.period_ms, "burst": rate.burst, "text": str(rate)}


def type_limit_record(info: TaskLimitInfo) -> Record:
    """Return the ``type_limit`` record of ``info``."""
    return {
        "type": info.task_type,
        "concurrency": info.limit.concurrency,
        "active": info.active,
        "parked": info.parked,
        "rate": _rate(info.limit.rate),
        "next_slot_in_ms": info.next_slot_in_ms,
    }


LIMITS = Schema(
    "limits",
    "`limit ls`",
    (
        Field("queue", "string", "queue name"),
        Field(
            "concurrency", "integer | null", "at most this many of its tasks active at once; null: no limit"
        ),
        Field("active", "integer", "its active tasks"),
        _RATE,
        _NEXT_SLOT,
        Field("types", "array of type_limit", "task types with a limit or parked tasks, sorted"),
        Field("throttled", "integer", "tasks rescheduled today (UTC) by a handler's `RateLimited`"),
        Field("throttled_total", "integer", "tasks rescheduled by `RateLimited`, all time"),
        Field(
            "unenforced_by",
            "array of string",
            "`host:pid:id` of live servers that serve the queue without enforcing limits (Go asynq servers)",
        ),
        Field("timestamp", "time", "when these figures were read"),
    ),
)


def limits_record(info: LimitsInfo) -> Record:
    """Return the ``limits`` record of ``info``."""
    return {
        "queue": info.queue,
        "concurrency": info.limits.concurrency,
        "active": info.active,
        "rate": _rate(info.limits.rate),
        "next_slot_in_ms": info.next_slot_in_ms,
        "types": [type_limit_record(t) for t in info.types],
        "throttled": info.throttled,
        "throttled_total": info.throttled_total,
        "unenforced_by": [f"{s.host}:{s.pid}:{s.id}" for s in info.unenforced_by],
        "timestamp": _time(info.timestamp),
    }


SCHEMAS: tuple[Schema, ...] = (
    TASK,
    QUEUE,
    DAILY,
    GROUP,
    SERVER,
    WORKER,
    STATS,
    CRON_ENTRY,
    CRON_EVENT,
    SCHEDULE_ENTRY,
    LIMITS,
    TYPE_LIMIT,
)
"""Every record ``--json`` prints (``config show`` documents its own in ``cli/config.py``)."""
