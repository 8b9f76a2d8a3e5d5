"""The dataclasses that travel between screens, the app and the fetcher.

Requests say what a screen shows (screens build them, ``fetch`` answers them); messages carry the
answers and the outcome of actions back. Data messages go to the screen that asked and do not
bubble; status messages go to the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from asynq_py.engine import (
        DailyStats,
        GroupInfo,
        LimitsInfo,
        QueueInfo,
        SchedulerEnqueueEvent,
        SchedulerEntryInfo,
        ServerInfo,
        TaskInfo,
        TaskState,
    )

    from .actions import Action

__all__ = [
    "ActionDone",
    "ActionRequested",
    "FetchFailed",
    "FetchSucceeded",
    "HistoryFetched",
    "HistoryRequest",
    "QueueFetched",
    "QueueRequest",
    "QueuesFetched",
    "QueuesRequest",
    "RefreshRequested",
    "Request",
    "SchedulesFetched",
    "SchedulesRequest",
    "ServersFetched",
    "ServersRequest",
    "TaskFetched",
    "TaskRequest",
]


@dataclass(frozen=True, slots=True)
class QueuesRequest:
    """Every queue with its sizes and counters."""


@dataclass(frozen=True, slots=True)
class QueueRequest:
    """One queue's summary and one page of its tasks in one state (or its groups)."""

    queue: str
    """Queue name."""
    state: TaskState
    """The selected state tab."""
    group: str | None
    """For aggregating tasks: the group, or None for the list of groups."""
    page: int
    """1-based page."""
    page_size: int
    """Rows per page."""
    filter: str = ""
    """Keep tasks whose id or type contains this (case-insensitive); "" keeps all."""


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """One task."""

    queue: str
    """Queue name."""
    task_id: str
    """Task id."""


@dataclass(frozen=True, slots=True)
class ServersRequest:
    """Every live server and its workers."""


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """Daily processed and failed counts of a queue."""

    queue: str
    """Queue name."""
    days: int
    """How many days, today included."""


@dataclass(frozen=True, slots=True)
class SchedulesRequest:
    """The periodic-task entries, and the enqueue history of one of them."""

    entry_id: str | None
    """The entry whose history to read; None for the first entry."""
    events: int = 50
    """How many recent enqueue events to read."""


Request = QueuesRequest | QueueRequest | TaskRequest | ServersRequest | HistoryRequest | SchedulesRequest
"""Anything a screen may ask the fetcher for."""


@dataclass(eq=False)
class RefreshRequested(Message):
    """A screen's view changed (navigation, tab, page, filter): fetch its data now."""


@dataclass(eq=False)
class ActionRequested(Message):
    """The user asked for a change; the app confirms it and hands it to the fetcher."""

    action: Action
    """What to do."""


@dataclass(eq=False)
class ActionDone(Message):
    """An action finished (fully, partly, or not at all)."""

    action: Action
    """What was asked."""
    changed: int
    """How many tasks (or queues) it changed."""
    errors: tuple[str, ...] = ()
    """One message per task that could not be changed, or the error that stopped it all."""


@dataclass(eq=False)
class FetchSucceeded(Message):
    """A fetch reached Redis: any "unreachable" banner can go."""


@dataclass(eq=False)
class FetchFailed(Message):
    """A fetch failed with an engine error; the last data stays on screen."""

    error: str
    """The error, as the engine worded it (not yet escaped)."""
    unreachable: bool
    """True when Redis could not be reached at all."""


@dataclass(eq=False)
class QueuesFetched(Message):
    """The answer to ``QueuesRequest``."""

    bubble = False
    request: QueuesRequest
    """What was asked."""
    queues: list[QueueInfo]
    """One entry per queue, sorted by name."""


@dataclass(eq=False)
class QueueFetched(Message):
    """The answer to ``QueueRequest``."""

    bubble = False
    request: QueueRequest
    """What was asked."""
    info: QueueInfo | None
    """The queue's summary; None when the queue no longer exists."""
    tasks: list[TaskInfo] = field(default_factory=list)
    """The page of tasks (empty when listing groups)."""
    groups: list[GroupInfo] = field(default_factory=list)
    """The page of groups (aggregating tab without a group)."""
    total: int = 0
    """Rows there are over all pages (matches, when filtering)."""
    scanned: int = 0
    """When filtering: how many tasks were searched."""
    truncated: bool = False
    """When filtering: the search stopped before the end of the state."""
    limits: LimitsInfo | None = None
    """The queue's flow-control limits and their use (None with ``info`` None, or unreadable)."""
    limits_error: str = ""
    """Why the limits could not be read (corrupt in Redis), or ""."""


@dataclass(eq=False)
class TaskFetched(Message):
    """The answer to ``TaskRequest``."""

    bubble = False
    request: TaskRequest
    """What was asked."""
    task: TaskInfo | None
    """The task; None when it no longer exists."""


@dataclass(eq=False)
class ServersFetched(Message):
    """The answer to ``ServersRequest``."""

    bubble = False
    request: ServersRequest
    """What was asked."""
    servers: list[ServerInfo]
    """Live servers, sorted by host and pid."""


@dataclass(eq=False)
class HistoryFetched(Message):
    """The answer to ``HistoryRequest``."""

    bubble = False
    request: HistoryRequest
    """What was asked."""
    stats: list[DailyStats] | None
    """One entry per day, today first; None when the queue no longer exists."""


@dataclass(eq=False)
class SchedulesFetched(Message):
    """The answer to ``SchedulesRequest``."""

    bubble = False
    request: SchedulesRequest
    """What was asked."""
    entries: list[SchedulerEntryInfo]
    """Entries of every live scheduler, sorted by spec."""
    entry_id: str | None
    """The entry whose events these are."""
    events: list[SchedulerEnqueueEvent]
    """Its recent enqueue events, newest first."""
