"""What the dashboard can change, which states allow it, and the words for asking and reporting.

An ``Action`` is plain data: a screen builds one, the app asks for confirmation with
``confirm_text``, ``fetch.Fetcher.act`` performs it, and ``result_text`` reports the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from asynq_py.engine import Rate, TaskInfo, TaskState

from .fmt import clean, thousands

__all__ = ["Action", "ActionKind", "LimitChange", "confirm_text", "refusal", "result_text"]


class ActionKind(StrEnum):
    """The verbs of the dashboard (the product's words, mapped to the inspector's in ``fetch``)."""

    RUN = "run"
    """Move to pending now (``run_task`` / ``run_all_tasks``); the "retry" of the issue."""
    ARCHIVE = "archive"
    """Archive ("kill": ``archive_task`` / ``archive_all_tasks``)."""
    DELETE = "delete"
    """Delete (``delete_task`` / ``delete_all_tasks``)."""
    CANCEL = "cancel"
    """Ask the server running an active task to cancel it (``cancel_processing``)."""
    PAUSE = "pause"
    """Pause a queue."""
    UNPAUSE = "unpause"
    """Unpause a queue."""
    ENQUEUE_COPY = "enqueue_copy"
    """Enqueue a new task with the same type, payload and headers (needs an ``AsyncClient``)."""
    SET_LIMITS = "set_limits"
    """Set parts of the queue's (or a task type's) flow-control limits (``set_queue_limits``)."""
    REMOVE_LIMITS = "remove_limits"
    """Remove the queue's limits, or one task type's (``remove_queue_limits``)."""


_BULK_STATES: dict[ActionKind, frozenset[TaskState]] = {
    ActionKind.RUN: frozenset(
        {TaskState.SCHEDULED, TaskState.RETRY, TaskState.ARCHIVED, TaskState.AGGREGATING}
    ),
    ActionKind.ARCHIVE: frozenset(
        {TaskState.PENDING, TaskState.SCHEDULED, TaskState.RETRY, TaskState.AGGREGATING}
    ),
    ActionKind.DELETE: frozenset(set(TaskState) - {TaskState.ACTIVE}),
}
"""States whose every task one inspector call can change (docs/wire.md §4.3.2)."""

_TASK_STATES: dict[ActionKind, frozenset[TaskState]] = {
    ActionKind.RUN: frozenset(set(TaskState) - {TaskState.ACTIVE, TaskState.PENDING}),
    ActionKind.ARCHIVE: frozenset(set(TaskState) - {TaskState.ACTIVE, TaskState.ARCHIVED}),
    ActionKind.DELETE: frozenset(set(TaskState) - {TaskState.ACTIVE}),
    ActionKind.CANCEL: frozenset({TaskState.ACTIVE}),
    ActionKind.ENQUEUE_COPY: frozenset(TaskState),
}
"""States in which a single task accepts the action (docs/wire.md §4.3.1)."""


@dataclass(frozen=True, slots=True)
class LimitChange:
    """The limits to set (None: keep that part), for the queue or one of its task types."""

    task_type: str | None = None
    """The task type limited (None: the queue itself)."""
    concurrency: int | None = None
    """The new concurrency limit."""
    rate: Rate | None = None
    """The new rate (a new rate keeps the current burst unless ``burst`` is given)."""
    burst: int | None = None
    """The new burst."""


@dataclass(frozen=True, slots=True)
class Action:
    """One change the user asked for."""

    kind: ActionKind
    """What to do."""
    queue: str
    """The queue it touches."""
    state: TaskState | None = None
    """The state of the tasks it touches (None for queue actions)."""
    task_ids: tuple[str, ...] = ()
    """The tasks it touches; empty with ``whole_state`` for every task of the state."""
    whole_state: bool = False
    """Touch every task of ``state`` (in ``group`` for aggregating tasks)."""
    group: str | None = None
    """The aggregation group, for aggregating tasks."""
    expected: int = 0
    """How many tasks the state held when the user asked (for the question only)."""
    task: TaskInfo | None = None
    """The task to copy, for ``ENQUEUE_COPY``."""
    limits: LimitChange | None = None
    """The limits to set or remove, for ``SET_LIMITS`` and ``REMOVE_LIMITS``."""

    @property
    def confirm(self) -> bool:
        """Whether to ask before doing it (not for pausing, unpausing, and limits: their dialog asked)."""
        return self.kind not in _UNCONFIRMED


def refusal(kind: ActionKind, state: TaskState, *, whole_state: bool) -> str | None:
    """Return why ``kind`` cannot apply to tasks in ``state``, or None when it can."""
    allowed = _BULK_STATES.get(kind, frozenset()) if whole_state else _TASK_STATES.get(kind, frozenset())
    if state in allowed:
        return None
    verb = _VERB[kind]
    if whole_state:
        return f"{verb} all is not available for {state.value} tasks"
    if kind is ActionKind.CANCEL:
        return "only active tasks can be cancelled"
    return f"{state.value} tasks cannot be {_PAST[kind]}"


_UNCONFIRMED = frozenset(
    {ActionKind.PAUSE, ActionKind.UNPAUSE, ActionKind.SET_LIMITS, ActionKind.REMOVE_LIMITS}
)

_VERB = {
    ActionKind.RUN: "Run",
    ActionKind.ARCHIVE: "Archive",
    ActionKind.DELETE: "Delete",
    ActionKind.CANCEL: "Cancel",
    ActionKind.PAUSE: "Pause",
    ActionKind.UNPAUSE: "Unpause",
    ActionKind.ENQUEUE_COPY: "Enqueue a copy of",
}
_PAST = {
    ActionKind.RUN: "run",
    ActionKind.ARCHIVE: "archived",
    ActionKind.DELETE: "deleted",
    ActionKind.CANCEL: "cancelled",
    ActionKind.PAUSE: "paused",
    ActionKind.UNPAUSE: "unpaused",
    ActionKind.ENQUEUE_COPY: "copied",
}


def _tasks(n: int) -> str:
    return f"{thousands(n)} task" if n == 1 else f"{thousands(n)} tasks"


def _where(action: Action) -> str:
    queue = f'queue "{clean(action.queue)}"'
    if action.group is not None:
        return f'group "{clean(action.group)}" of {queue}'
    return queue


def confirm_text(action: Action) -> str:
    """Return the question that names exactly what ``action`` will touch."""
    verb = _VERB[action.kind]
    if action.kind in (ActionKind.PAUSE, ActionKind.UNPAUSE):
        return f"{verb} {_where(action)}?"
    state = action.state.value if action.state is not None else ""
    if action.whole_state:
        suffix = " (move them to pending)" if action.kind is ActionKind.RUN else ""
        return f"{verb} all {thousands(action.expected)} {state} tasks in {_where(action)}{suffix}?"
    if len(action.task_ids) == 1:
        what = f'{state} task "{clean(action.task_ids[0])}"'
        if action.task is not None:
            what += f" ({clean(action.task.type)})"
        if action.kind is ActionKind.ENQUEUE_COPY:
            return f"{verb} {what} to {_where(action)} as a new task?"
        if action.kind is ActionKind.CANCEL:
            return f"Cancel the processing of {what} in {_where(action)}?"
        suffix = " (move it to pending)" if action.kind is ActionKind.RUN else ""
        return f"{verb} {what} in {_where(action)}{suffix}?"
    n = len(action.task_ids)
    if action.kind is ActionKind.CANCEL:
        return f"Cancel the processing of {n} selected active tasks in {_where(action)}?"
    suffix = " (move them to pending)" if action.kind is ActionKind.RUN else ""
    return f"{verb} {n} selected {state} tasks in {_where(action)}{suffix}?"


def result_text(action: Action, changed: int, errors: tuple[str, ...]) -> str:
    """Return the report of a finished action: how many tasks changed, and what failed."""
    q = clean(action.queue)
    if action.kind in (ActionKind.SET_LIMITS, ActionKind.REMOVE_LIMITS):
        task_type = action.limits.task_type if action.limits is not None else None
        what = f'type "{clean(task_type)}" in queue "{q}"' if task_type else f'queue "{q}"'
        done = "Set" if action.kind is ActionKind.SET_LIMITS else "Removed"
        text = f"{done} the limits of {what}" if changed else f"The limits of {what} did not change"
    elif action.kind is ActionKind.PAUSE:
        text = f'Successfully paused queue "{q}"' if changed else f'Queue "{q}" was not paused'
    elif action.kind is ActionKind.UNPAUSE:
        text = f'Successfully unpaused queue "{q}"' if changed else f'Queue "{q}" was not unpaused'
    elif action.kind is ActionKind.RUN:
        text = f"{_tasks(changed)} {'is' if changed == 1 else 'are'} now pending"
    elif action.kind is ActionKind.CANCEL:
        text = f"Cancellation sent for {_tasks(changed)}"
    elif action.kind is ActionKind.ENQUEUE_COPY:
        text = f'Enqueued {_tasks(changed)} to queue "{q}"'
    else:
        text = f"{_tasks(changed)} {_PAST[action.kind]}"
    if errors:
        shown = "; ".join(clean(e) for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        text += f"; {len(errors)} failed: {shown}{more}"
    return text
