"""Records the inspector returns: queues, daily stats, groups, servers, workers, scheduler entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .limits import Limit, QueueLimits

__all__ = [
    "BulkProgress",
    "DailyStats",
    "GroupInfo",
    "LimitsInfo",
    "QueueInfo",
    "SchedulerEnqueueEvent",
    "SchedulerEntryInfo",
    "ServerInfo",
    "TaskLimitInfo",
    "WorkerInfo",
]


@dataclass(frozen=True, slots=True)
class BulkProgress:
    """How far a bulk operation (``run_all_tasks``, ``archive_all_tasks``, ``delete_all_tasks``) got.

    Bulk operations work in chunks of 1,000 tasks (500 when archiving), one atomic script call
    each, so that no call blocks Redis for long, and report after every chunk. Stopped between two
    chunks, they leave every task in exactly one state.
    """

    done: int
    """Tasks moved (or deleted) so far."""
    total: int
    """Tasks the state held when the operation started (raised if more arrived meanwhile)."""
    dropped: int
    """Archived tasks deleted so far because the archive was full or they were too old."""


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """A queue's sizes per state and its counters at ``timestamp``."""

    queue: str
    """Queue name."""
    memory_usage: int
    """Estimated bytes used by the queue's tasks and containers (sampled, as Go does)."""
    latency: timedelta
    """How long the oldest pending task has waited."""
    size: int
    """All tasks in the queue, of every state."""
    groups: int
    """Number of groups with tasks waiting for aggregation."""
    pending: int
    """Pending tasks."""
    active: int
    """Active tasks."""
    scheduled: int
    """Scheduled tasks."""
    retry: int
    """Tasks waiting to be retried."""
    archived: int
    """Archived tasks."""
    completed: int
    """Completed tasks kept for their retention."""
    aggregating: int
    """Tasks waiting in groups."""
    processed: int
    """Tasks processed today (UTC), successes and failures."""
    failed: int
    """Tasks failed today (UTC)."""
    processed_total: int
    """Tasks processed, all time."""
    failed_total: int
    """Tasks failed, all time."""
    paused: bool
    """Whether the queue is paused."""
    timestamp: datetime
    """When these figures were read."""


@dataclass(frozen=True, slots=True)
class DailyStats:
    """Processed and failed counts of one queue on one UTC day."""

    queue: str
    """Queue name."""
    processed: int
    """Tasks processed that day."""
    failed: int
    """Tasks failed that day."""
    date: date
    """The UTC date."""


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A group of tasks waiting for aggregation."""

    group: str
    """Group name."""
    size: int
    """Tasks in the group."""


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A task being processed by a server."""

    task_id: str
    """Task id."""
    task_type: str
    """Task type."""
    task_payload: bytes
    """Task payload."""
    queue: str
    """Queue the task came from."""
    started: datetime | None
    """When the worker started it."""
    deadline: datetime | None
    """When its context expires."""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A server process, from its latest heartbeat."""

    id: str
    """Server id (UUID)."""
    host: str
    """Host name."""
    pid: int
    """Process id."""
    concurrency: int
    """How many tasks it runs at once at most."""
    queues: dict[str, int]
    """Queue name to priority."""
    strict_priority: bool
    """Whether queues are served in strict priority order."""
    started: datetime | None
    """When the server started."""
    status: str
    """``new``, ``active``, ``stopped`` or ``closed``."""
    active_workers: list[WorkerInfo] = field(default_factory=list)
    """The tasks it is running."""
    last_heartbeat: datetime | None = None
    """When it last wrote its heartbeat: the expiry it wrote minus the standard 10 s TTL (Go's
    ServerInfo has no such field; asynq-py derives it from ``asynq:servers``)."""


@dataclass(frozen=True, slots=True)
class SchedulerEntryInfo:
    """A periodic task as published by a running scheduler."""

    id: str
    """Entry id."""
    spec: str
    """Cron spec or ``@every`` interval."""
    task_type: str
    """Type of the task it enqueues."""
    task_payload: bytes
    """Payload of the task it enqueues."""
    options: tuple[str, ...]
    """Enqueue options in Go's ``Option.String()`` form."""
    next_enqueue_at: datetime | None
    """When it fires next."""
    prev_enqueue_at: datetime | None
    """When it last fired; None = never."""
    scheduler_id: str = ""
    """Which scheduler published it."""

    def next_run(self, now: datetime) -> datetime | None:
        """Return when the entry next fires, seen from ``now``.

        A scheduler publishes its entries with each heartbeat, so ``next_enqueue_at`` can be up to a
        heartbeat old and already past; then the spec gives the first run after ``now`` (cron fields
        are read in UTC unless the spec names a zone).
        """
        published = self.next_enqueue_at
        if published is None or published > now:
            return published
        from .cron import parse_spec  # cronsim only where a stale time must be recomputed
        from .errors import ValidationError

        try:
            after = parse_spec(self.spec).next_after(now.timestamp())
        except ValidationError:
            return published  # a spec this build cannot read: show what was published
        return datetime.fromtimestamp(after, now.tzinfo) if after != float("inf") else None


@dataclass(frozen=True, slots=True)
class SchedulerEnqueueEvent:
    """One task enqueued by a scheduler entry."""

    task_id: str
    """Id of the enqueued task."""
    enqueued_at: datetime | None
    """When it was enqueued."""


@dataclass(frozen=True, slots=True)
class TaskLimitInfo:
    """One task type's flow-control limit in a queue and how much of it is in use."""

    task_type: str
    """The task type."""
    limit: Limit
    """Its limit (empty while tasks parked under a removed limit drain back)."""
    active: int | None
    """Tasks of the type holding a slot now (None: the type has no concurrency limit, so no slots
    are counted)."""
    parked: int
    """Pending tasks of the type set aside until it has room (they count as pending)."""
    next_slot_in_ms: int | None
    """Milliseconds until its rate allows the next start (0: now; None: no rate limit)."""


@dataclass(frozen=True, slots=True)
class LimitsInfo:
    """A queue's flow-control limits, their use, and its throttle counters at ``timestamp``."""

    queue: str
    """Queue name."""
    limits: QueueLimits
    """The limits stored in Redis (empty: the queue is not limited)."""
    active: int
    """The queue's active tasks, which its concurrency limit counts."""
    next_slot_in_ms: int | None
    """Milliseconds until the queue's rate allows the next start (0: now; None: no rate limit)."""
    types: list[TaskLimitInfo]
    """Every task type with a limit or with parked tasks, sorted by type."""
    throttled: int
    """Tasks rescheduled today (UTC) by a handler's ``RateLimited``."""
    throttled_total: int
    """Tasks rescheduled by ``RateLimited``, all time."""
    unenforced_by: list[ServerInfo]
    """Live servers that serve the queue but do not enforce limits: Go asynq servers, which write
    no asynq-py marker beside their heartbeat."""
    timestamp: datetime
    """When these figures were read."""
