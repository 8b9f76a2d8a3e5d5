"""The value types users handle: ``Task``, ``TaskInfo`` and ``TaskState``."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Unpack

from .options import NO_OPTIONS, EnqueueOptions, TaskOptions, parse_options
from .payload import Payload, encode_payload

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .wire import TaskMessage

__all__ = [
    "Task",
    "TaskInfo",
    "TaskState",
    "received_task",
    "task_info_from_message",
    "undecodable_task_info",
]


class TaskState(StrEnum):
    """Where a task is in its life; the values are the strings stored in the task hash."""

    ACTIVE = "active"
    PENDING = "pending"
    SCHEDULED = "scheduled"
    RETRY = "retry"
    ARCHIVED = "archived"
    COMPLETED = "completed"
    AGGREGATING = "aggregating"


class Task:
    """A unit of work: a type name, a payload, headers and default enqueue options.

    Args:
        type: The task type, which selects the handler (e.g. ``"email:deliver"``).
        payload: ``bytes`` are stored untouched, ``str`` as UTF-8, a ``dict`` or ``list`` as JSON
            encoded exactly as Go's ``encoding/json`` does; ``None`` means no payload (default None).
        headers: String headers carried with the task (default none).
        **options: Default enqueue options for this task (see ``Client.enqueue``); options given to
            ``enqueue`` override them.
    """

    __slots__ = ("_options", "_payload", "headers", "type")

    def __init__(
        self,
        type: str,
        payload: bytes | str | dict[str, Any] | list[Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **options: Unpack[TaskOptions],
    ) -> None:
        self.type = type
        """The task type."""
        self._payload = encode_payload(payload)
        self.headers: dict[str, str] = dict(headers or {})
        """The task headers."""
        self._options = parse_options(options)

    @property
    def payload(self) -> Payload:
        """The payload, with typed getters; ``bytes(task.payload)`` is the raw bytes."""
        return Payload(self._payload or b"")

    @property
    def raw_payload(self) -> bytes | None:
        """The payload bytes, or None when the task was made without one (Go's nil payload)."""
        return self._payload

    @property
    def options(self) -> EnqueueOptions:
        """The default enqueue options given at construction."""
        return self._options

    def __repr__(self) -> str:
        return f"Task(type={self.type!r}, payload={self.payload!r})"


# Both remembered: every enqueue converts its time and timeout, and those of one second (and most
# timeouts and retentions) are the same; building a datetime or timedelta costs 0.5-1 µs, a hit 0.1.
@functools.lru_cache(maxsize=256)
def _seconds(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


@functools.lru_cache(maxsize=256)
def _time_or_none(seconds: int) -> datetime | None:
    if seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(slots=True)
class TaskInfo:
    """Everything known about a stored task, as returned by the client and the inspector.

    A snapshot: changing it changes nothing in Redis. (Not a frozen dataclass: every enqueue
    returns one, and a frozen one takes five times as long to build.)
    """

    id: str
    """Task id."""
    queue: str
    """Queue name."""
    type: str
    """Task type."""
    payload: Payload
    """Payload."""
    headers: dict[str, str]
    """Headers."""
    state: TaskState
    """Current state."""
    max_retry: int
    """How many times the task may be retried."""
    retried: int
    """How many times it has been retried."""
    last_error: str
    """The last error message, or ""."""
    last_failed_at: datetime | None
    """When it last failed."""
    timeout: timedelta | None
    """How long one run may take, or None."""
    deadline: datetime | None
    """The time by which it must finish, or None."""
    group: str
    """The aggregation group, or ""."""
    next_process_at: datetime | None
    """When it will next be processed (now for pending tasks), or None."""
    retention: timedelta | None
    """How long it is kept after success, or None."""
    completed_at: datetime | None
    """When it completed, or None."""
    result: bytes | None = None
    """What the handler wrote with its result writer, or None."""
    is_orphaned: bool = False
    """True for an active task whose lease has expired (only set by ``list_active_tasks``)."""
    unique_key: str = field(default="", repr=False)
    """The uniqueness lock key, or ""."""
    decode_error: str = ""
    """Why the stored message could not be decoded, or "". Such a task (listed so that it can be
    found and deleted) has only its ``id``, ``queue``, ``state``, ``next_process_at`` and ``raw_size``."""
    raw_size: int = 0
    """Size in bytes of the stored message of a task that could not be decoded, else 0."""


def received_task(msg: TaskMessage) -> Task:
    """The ``Task`` a handler gets for ``msg``: its type, payload bytes and a copy of its headers.

    Built without ``Task.__init__``, which has nothing to do here (the payload is bytes already,
    and a received task carries no enqueue options): a worker makes one per run, on the way from
    an idle wake-up to the handler.
    """
    task = Task.__new__(Task)
    task.type = msg.type
    task._payload = msg.payload
    task.headers = dict(msg.headers) if msg.headers else {}
    task._options = NO_OPTIONS
    return task


def task_info_from_message(
    msg: TaskMessage,
    state: TaskState,
    *,
    next_process_at: float = 0,
    result: bytes | None = None,
    is_orphaned: bool = False,
) -> TaskInfo:
    """Build a ``TaskInfo`` from a decoded message and what Redis says around it."""
    # Every enqueue builds one of these, so the zero checks are inlined rather than left to
    # _time_or_none, and the fields are passed by position, in TaskInfo's order (keywords cost
    # twice as much): most of these times are unset.
    return TaskInfo(
        msg.id,
        msg.queue,
        msg.type,
        Payload(msg.payload),
        dict(msg.headers),
        state,
        msg.retry,
        msg.retried,
        msg.error_msg,
        _time_or_none(msg.last_failed_at) if msg.last_failed_at > 0 else None,
        _seconds(msg.timeout) if msg.timeout > 0 else None,
        _time_or_none(msg.deadline) if msg.deadline > 0 else None,
        msg.group_key,
        _time_or_none(int(next_process_at)) if next_process_at > 0 else None,
        _seconds(msg.retention) if msg.retention > 0 else None,
        _time_or_none(msg.completed_at) if msg.completed_at > 0 else None,
        result or None,
        is_orphaned,
        msg.unique_key,
    )


def undecodable_task_info(
    task_id: str, queue: str, state: TaskState, raw: bytes, error: str, *, next_process_at: float = 0
) -> TaskInfo:
    """Build the ``TaskInfo`` of a task whose stored message cannot be decoded."""
    return TaskInfo(
        id=task_id,
        queue=queue,
        type="",
        payload=Payload(b""),
        headers={},
        state=state,
        max_retry=0,
        retried=0,
        last_error="",
        last_failed_at=None,
        timeout=None,
        deadline=None,
        group="",
        next_process_at=_time_or_none(int(next_process_at)) if next_process_at > 0 else None,
        retention=None,
        completed_at=None,
        decode_error=error,
        raw_size=len(raw),
    )
