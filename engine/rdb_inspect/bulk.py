"""Plans that run, archive or delete every task of a state, in chunks, and remove a whole queue.

Each chunk is one script call, so none blocks Redis for long, and an operation stopped between two
calls leaves every task in one state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import keys
from ..calls import Batch, Command, Plan, Script, raise_failed
from ..errors import QueueNotEmptyError, TaskStateError, ValidationError
from ..rdb import ARCHIVE_MAX_AGE_S, ARCHIVE_MAX_SIZE
from ..task import TaskState
from .guard import check_queue, queue_exists

if TYPE_CHECKING:
    # The records are imported by the plans that build them: the info module's dataclasses take
    # about 10 ms to define, which listing or finding tasks (asynq-py ls, inspect) need not pay.
    from ..info import BulkProgress

__all__ = ["ARCHIVE_CHUNK", "BULK_CHUNK", "Progress", "archive_all", "delete_all", "delete_queue", "run_all"]

Progress = Callable[["BulkProgress"], None]
"""Called after each chunk of a bulk operation with the figures so far."""

_ZSET_STATES = (TaskState.SCHEDULED, TaskState.RETRY, TaskState.ARCHIVED, TaskState.COMPLETED)


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
    replies = yield Batch((queue_exists(queue), Command(("LLEN" if is_list else "ZCARD", source))))
    check_queue(queue, replies[0])
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
    from ..info import BulkProgress

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
        (
            source,
            keys.pending_key(queue),
            keys.wake_list_key(queue),
            *((keys.groups_key(queue),) if grouped else ()),
        ),
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
    replies = yield Batch((queue_exists(queue), Command(("LLEN", keys.active_key(queue)))))
    check_queue(queue, replies[0])
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
            queue_exists(queue),
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
    check_queue(queue, replies[0])
    code = replies[1]
    if isinstance(code, Exception):
        raise code
    if code == -1:
        raise QueueNotEmptyError(f"queue {queue!r} is not empty", queue=queue)
    if code == -2:
        raise TaskStateError(f"cannot remove queue {queue!r} with active tasks", queue=queue)
    yield Command(("SREM", keys.ALL_QUEUES, queue))
