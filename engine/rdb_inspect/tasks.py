"""Plans that list a queue's tasks and read or change one task: run, archive, delete, new payload, cancel."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..calls import Batch, Command, Plan, Script, raise_failed
from ..errors import AsynqError, DecodeError, TaskNotFoundError, TaskStateError, ValidationError
from ..rdb import ARCHIVE_MAX_AGE_S, ARCHIVE_MAX_SIZE
from ..task import TaskInfo, TaskState, task_info_from_message, undecodable_task_info
from ..wire import TaskMessage, decode_stored_task, encode_task_message
from .guard import check_queue, queue_exists
from .queue import queues

__all__ = [
    "archive_task",
    "cancel_processing",
    "delete_task",
    "find_task",
    "get_task_info",
    "list_tasks",
    "run_task",
    "update_task_payload",
]


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
    calls: list[Command | Script] = [queue_exists(queue)]
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
    check_queue(queue, replies[0])
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
            queue_exists(queue),
            Script(
                "get_task_info",
                (keys.task_key(queue, task_id),),
                (task_id, int(now), keys.queue_key_prefix(queue)),
            ),
        )
    )
    check_queue(queue, replies[0])
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
    check_queue(queue, replies[0])
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
            queue_exists(queue),
            Script(
                "run_task",
                (
                    keys.task_key(queue, task_id),
                    keys.pending_key(queue),
                    keys.groups_key(queue),
                    keys.wake_list_key(queue),
                ),
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
            queue_exists(queue),
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
            queue_exists(queue),
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
