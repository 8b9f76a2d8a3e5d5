"""Protobuf encoding of asynq's messages (docs/wire.md §3.1), behind plain dataclasses.

The generated module ``_pb.asynq_pb2`` is imported here and nowhere else, on first use: a task
message is encoded by hand, so enqueueing one (``asynq-py enqueue``) never loads protobuf, which
costs a command line about 30 ms. Every decoder raises only ``DecodeError``, whatever bytes it is
given: data read from Redis is untrusted input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import DecodeError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from google.protobuf.message import Message
    from google.protobuf.timestamp_pb2 import Timestamp

    from ._pb import asynq_pb2 as pb
else:

    class _Protobuf:
        """Stands for ``_pb.asynq_pb2`` until a message needs it, then puts the module in its place."""

        def __getattr__(self, name: str) -> Any:
            global pb
            from ._pb import asynq_pb2

            pb = asynq_pb2
            return getattr(asynq_pb2, name)

    pb = _Protobuf()

__all__ = [
    "GO_ZERO_TIME_SECONDS",
    "NewTaskEncoder",
    "SchedulerEnqueueEvent",
    "SchedulerEntry",
    "ServerInfo",
    "TaskMessage",
    "WorkerInfo",
    "decode_scheduler_entry",
    "decode_scheduler_event",
    "decode_server_info",
    "decode_stored_task",
    "decode_task_message",
    "decode_worker_info",
    "encode_scheduler_entry",
    "encode_scheduler_event",
    "encode_server_info",
    "encode_task_message",
    "encode_worker_info",
]

GO_ZERO_TIME_SECONDS = -62135596800
"""Go's zero ``time.Time`` (year 1) as a protobuf Timestamp's seconds: "never" in SchedulerEntry."""


@dataclass(slots=True)
class TaskMessage:
    """The ``TaskMessage`` protobuf: a task as stored in the ``msg`` field of its hash."""

    type: str
    """Task type name."""
    payload: bytes = b""
    """Opaque payload."""
    id: str = ""
    """Task id."""
    queue: str = ""
    """Queue name."""
    retry: int = 0
    """Max retry count."""
    retried: int = 0
    """Times retried so far."""
    error_msg: str = ""
    """Last error message."""
    last_failed_at: int = 0
    """Unix seconds of the last failure; 0 = never."""
    timeout: int = 0
    """Timeout in seconds; 0 = none."""
    deadline: int = 0
    """Deadline in Unix seconds; 0 = none."""
    unique_key: str = ""
    """Full Redis key of the uniqueness lock; "" = none."""
    group_key: str = ""
    """Group name; "" = none."""
    retention: int = 0
    """Seconds to keep the task after success."""
    completed_at: int = 0
    """Unix seconds of completion; 0 = not completed."""
    headers: dict[str, str] = field(default_factory=dict)
    """Task headers (field 15, new in asynq v0.26.0)."""


_PbMessage = TypeVar("_PbMessage", bound="Message")


def _parse_errors() -> tuple[type[Exception], ...]:
    from google.protobuf.message import DecodeError as PbDecodeError  # loaded with the messages

    return (PbDecodeError, RuntimeError, ValueError, TypeError)


def _parse(message: _PbMessage, data: bytes, what: str) -> _PbMessage:
    """Fill ``message`` from ``data``; any failure becomes a ``DecodeError``."""
    try:
        message.ParseFromString(data)
    except _parse_errors() as exc:  # (evaluated only when parsing failed)
        raise DecodeError(f"undecodable {what} ({len(data)} bytes): {exc}") from None
    return message


_SMALL_VARINTS = [bytes((n,)) for n in range(128)]


def _varint(n: int) -> bytes:
    """A protobuf varint; a negative number as its 64-bit two's complement (ten bytes)."""
    if 0 <= n < 128:
        return _SMALL_VARINTS[n]
    n &= 0xFFFF_FFFF_FFFF_FFFF
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _text(tag: bytes, value: str) -> bytes:
    data = value.encode()
    return tag + _varint(len(data)) + data


def encode_task_message(msg: TaskMessage) -> bytes:  # noqa: C901 - one branch per field, in field order, reads best
    """Serialize a task message as Go asynq does: the fields that are set, in field number order
    (docs/wire.md §3.1), headers sorted by key as Go's deterministic encoding sorts them."""
    # Written out rather than built through the generated class: every enqueue encodes one, and
    # making a protobuf object from keywords costs twice this whole function.
    out = []
    if msg.type:
        out.append(_text(b"\x0a", msg.type))
    if msg.payload:
        out.append(b"\x12" + _varint(len(msg.payload)) + msg.payload)
    if msg.id:
        out.append(_text(b"\x1a", msg.id))
    if msg.queue:
        out.append(_text(b"\x22", msg.queue))
    if msg.retry:
        out.append(b"\x28" + _varint(msg.retry))
    if msg.retried:
        out.append(b"\x30" + _varint(msg.retried))
    if msg.error_msg:
        out.append(_text(b"\x3a", msg.error_msg))
    if msg.timeout:
        out.append(b"\x40" + _varint(msg.timeout))
    if msg.deadline:
        out.append(b"\x48" + _varint(msg.deadline))
    if msg.unique_key:
        out.append(_text(b"\x52", msg.unique_key))
    if msg.last_failed_at:
        out.append(b"\x58" + _varint(msg.last_failed_at))
    if msg.retention:
        out.append(b"\x60" + _varint(msg.retention))
    if msg.completed_at:
        out.append(b"\x68" + _varint(msg.completed_at))
    if msg.group_key:
        out.append(_text(b"\x72", msg.group_key))
    if msg.headers:
        out.append(_headers(msg.headers))
    return b"".join(out)


def _headers(headers: Mapping[str, str]) -> bytes:
    """Field 15, one entry per header, sorted by key."""
    out = []
    for key, value in sorted(headers.items()):
        entry = _text(b"\x0a", key) + _text(b"\x12", value)
        out.append(b"\x7a" + _varint(len(entry)) + entry)
    return b"".join(out)


class NewTaskEncoder:
    """Encodes new tasks' messages that differ only in payload, id, unique key and headers.

    The fields they share are encoded once, so that each message costs a few concatenations; a
    message comes out byte for byte as ``encode_task_message`` encodes it (a new task has not run,
    so ``retried``, ``error_msg``, ``last_failed_at`` and ``completed_at`` are unset).
    """

    __slots__ = ("_head", "_middle", "_tail")

    def __init__(
        self,
        task_type: str,
        queue: str,
        retry: int,
        timeout: int,
        deadline: int,
        retention: int,
        group_key: str,
    ) -> None:
        # The fields are encoded in number order: the type (1), then the payload (2) and the id (3)
        # of each task, the shared 4-9, each task's unique key (10), and the shared 12 and 14.
        self._head = encode_task_message(TaskMessage(type=task_type))
        self._middle = encode_task_message(
            TaskMessage(type="", queue=queue, retry=retry, timeout=timeout, deadline=deadline)
        )
        self._tail = encode_task_message(TaskMessage(type="", retention=retention, group_key=group_key))

    def encode(self, payload: bytes, task_id: str, unique_key: str, headers: Mapping[str, str]) -> bytes:
        """The message of one task with these fields (the others shared)."""
        return b"".join(
            (
                self._head,
                b"\x12" + _varint(len(payload)) if payload else b"",
                payload,
                _text(b"\x1a", task_id) if task_id else b"",
                self._middle,
                _text(b"\x52", unique_key) if unique_key else b"",
                self._tail,
                _headers(headers) if headers else b"",
            )
        )


def decode_task_message(data: bytes) -> TaskMessage:
    """Parse a task message; raise ``DecodeError`` on anything that is not one."""
    m = _parse(pb.TaskMessage(), data, "task message")
    return TaskMessage(
        type=m.type,
        payload=m.payload,
        id=m.id,
        queue=m.queue,
        retry=m.retry,
        retried=m.retried,
        error_msg=m.error_msg,
        last_failed_at=m.last_failed_at,
        timeout=m.timeout,
        deadline=m.deadline,
        unique_key=m.unique_key,
        group_key=m.group_key,
        retention=m.retention,
        completed_at=m.completed_at,
        headers=dict(m.headers) if m.headers else {},  # (an empty map's dict() costs 2 µs)
    )


def decode_stored_task(data: bytes, queue: str, task_id: str) -> TaskMessage:
    """Parse the message stored under ``queue``'s key for ``task_id``.

    Raises:
        DecodeError: ``data`` is not a task message, or it names another task (its id or queue is
            not the key's): run, it would be written back under that other name.
    """
    msg = decode_task_message(data)
    if (msg.id, msg.queue) != (task_id, queue):
        raise DecodeError(
            f"the message under task {task_id!r} of queue {queue!r} "
            f"names task {msg.id!r} of queue {msg.queue!r}"
        )
    return msg


def _to_ts(when: datetime | None, ts: Timestamp) -> None:
    if when is None:
        ts.seconds = GO_ZERO_TIME_SECONDS
        ts.nanos = 0
        return
    micros = round(when.timestamp() * 1_000_000)
    ts.seconds, rem = divmod(micros, 1_000_000)
    ts.nanos = rem * 1000


def _from_ts(seconds: int, nanos: int) -> datetime | None:
    if seconds <= GO_ZERO_TIME_SECONDS:
        return None
    try:
        return datetime.fromtimestamp(seconds + nanos / 1e9, UTC)
    except (OverflowError, OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A running server as its heartbeat describes it (``ServerInfo`` protobuf)."""

    host: str
    """Host name."""
    pid: int
    """Process id."""
    server_id: str
    """Random UUID of the server process."""
    concurrency: int
    """Maximum number of tasks run at once."""
    queues: dict[str, int]
    """Queue name to configured priority."""
    strict_priority: bool
    """Whether queues are served in strict priority order."""
    status: str
    """``new``, ``active``, ``stopped`` or ``closed``."""
    started: datetime | None
    """When the server started."""
    active_worker_count: int
    """Tasks running now."""


def encode_server_info(info: ServerInfo) -> bytes:
    """Serialize a ``ServerInfo``."""
    m = pb.ServerInfo(
        host=info.host,
        pid=info.pid,
        server_id=info.server_id,
        concurrency=info.concurrency,
        queues=info.queues,
        strict_priority=info.strict_priority,
        status=info.status,
        active_worker_count=info.active_worker_count,
    )
    _to_ts(info.started, m.start_time)
    return m.SerializeToString(deterministic=True)


def decode_server_info(data: bytes) -> ServerInfo:
    """Parse a ``ServerInfo``; raise ``DecodeError`` on anything else."""
    m = _parse(pb.ServerInfo(), data, "server info")
    return ServerInfo(
        host=m.host,
        pid=m.pid,
        server_id=m.server_id,
        concurrency=m.concurrency,
        queues=dict(m.queues),
        strict_priority=m.strict_priority,
        status=m.status,
        started=_from_ts(m.start_time.seconds, m.start_time.nanos),
        active_worker_count=m.active_worker_count,
    )


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A task running on a server, as its heartbeat describes it (``WorkerInfo`` protobuf)."""

    host: str
    """Host name of the server."""
    pid: int
    """Process id of the server."""
    server_id: str
    """Id of the server."""
    task_id: str
    """Id of the running task."""
    task_type: str
    """Type of the running task."""
    task_payload: bytes
    """Payload of the running task."""
    queue: str
    """Queue the task came from."""
    started: datetime | None
    """When the worker started the task."""
    deadline: datetime | None
    """When the task's context expires."""


def encode_worker_info(info: WorkerInfo) -> bytes:
    """Serialize a ``WorkerInfo``."""
    m = pb.WorkerInfo(
        host=info.host,
        pid=info.pid,
        server_id=info.server_id,
        task_id=info.task_id,
        task_type=info.task_type,
        task_payload=info.task_payload,
        queue=info.queue,
    )
    _to_ts(info.started, m.start_time)
    _to_ts(info.deadline, m.deadline)
    return m.SerializeToString(deterministic=True)


def decode_worker_info(data: bytes) -> WorkerInfo:
    """Parse a ``WorkerInfo``; raise ``DecodeError`` on anything else."""
    m = _parse(pb.WorkerInfo(), data, "worker info")
    return WorkerInfo(
        host=m.host,
        pid=m.pid,
        server_id=m.server_id,
        task_id=m.task_id,
        task_type=m.task_type,
        task_payload=m.task_payload,
        queue=m.queue,
        started=_from_ts(m.start_time.seconds, m.start_time.nanos),
        deadline=_from_ts(m.deadline.seconds, m.deadline.nanos),
    )


@dataclass(frozen=True, slots=True)
class SchedulerEntry:
    """A periodic task registered with a scheduler (``SchedulerEntry`` protobuf)."""

    id: str
    """Entry id (UUID)."""
    spec: str
    """Cron spec, e.g. ``@every 30s`` or ``*/5 * * * *``."""
    task_type: str
    """Type of the task it enqueues."""
    task_payload: bytes
    """Payload of the task it enqueues."""
    enqueue_options: tuple[str, ...]
    """Options in Go's ``Option.String()`` form, e.g. ``Queue("critical")``."""
    next_enqueue: datetime | None
    """Next time the entry fires."""
    prev_enqueue: datetime | None
    """Last time it fired; None = never."""


def encode_scheduler_entry(entry: SchedulerEntry) -> bytes:
    """Serialize a ``SchedulerEntry``; "never" is Go's zero time, as Go's inspector expects."""
    m = pb.SchedulerEntry(
        id=entry.id,
        spec=entry.spec,
        task_type=entry.task_type,
        task_payload=entry.task_payload,
        enqueue_options=list(entry.enqueue_options),
    )
    _to_ts(entry.next_enqueue, m.next_enqueue_time)
    _to_ts(entry.prev_enqueue, m.prev_enqueue_time)
    return m.SerializeToString(deterministic=True)


def decode_scheduler_entry(data: bytes) -> SchedulerEntry:
    """Parse a ``SchedulerEntry``; raise ``DecodeError`` on anything else."""
    m = _parse(pb.SchedulerEntry(), data, "scheduler entry")
    return SchedulerEntry(
        id=m.id,
        spec=m.spec,
        task_type=m.task_type,
        task_payload=m.task_payload,
        enqueue_options=tuple(m.enqueue_options),
        next_enqueue=_from_ts(m.next_enqueue_time.seconds, m.next_enqueue_time.nanos),
        prev_enqueue=_from_ts(m.prev_enqueue_time.seconds, m.prev_enqueue_time.nanos),
    )


@dataclass(frozen=True, slots=True)
class SchedulerEnqueueEvent:
    """One enqueue made by a scheduler entry (``SchedulerEnqueueEvent`` protobuf)."""

    task_id: str
    """Id of the enqueued task."""
    enqueued_at: datetime | None
    """When it was enqueued."""


def encode_scheduler_event(event: SchedulerEnqueueEvent) -> bytes:
    """Serialize a ``SchedulerEnqueueEvent``."""
    m = pb.SchedulerEnqueueEvent(task_id=event.task_id)
    _to_ts(event.enqueued_at, m.enqueue_time)
    return m.SerializeToString(deterministic=True)


def decode_scheduler_event(data: bytes) -> SchedulerEnqueueEvent:
    """Parse a ``SchedulerEnqueueEvent``; raise ``DecodeError`` on anything else."""
    m = _parse(pb.SchedulerEnqueueEvent(), data, "scheduler event")
    return SchedulerEnqueueEvent(
        task_id=m.task_id, enqueued_at=_from_ts(m.enqueue_time.seconds, m.enqueue_time.nanos)
    )
