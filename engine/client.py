"""``Client`` and ``AsyncClient``: enqueue tasks now, at a time, or after a delay.

Both are thin shells over ``_ClientCore``, which builds the messages and plans without I/O.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Self, Unpack

from . import keys, rdb
from .broker import AsyncBroker, Broker, RedisLike
from .calls import Batch, Plan
from .clock import Clock, RealClock
from .errors import AsynqError, ValidationError
from .options import (
    DEFAULT_MAX_RETRY,
    DEFAULT_TIMEOUT,
    EnqueueOptions,
    LaterOptions,
    Options,
    merge_options,
    parse_options,
    validate_task_type,
)
from .task import Task, TaskInfo, TaskState, task_info_from_message
from .wire import NewTaskEncoder, TaskMessage

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import TracebackType

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "AsyncClient", "Client", "Durability", "EnqueueHook"]

EnqueueHook = Callable[[str, str, str], Mapping[str, str] | None]
"""Called with the type, queue and id of every task being enqueued; returns headers to add to it
(headers the task or the call set win). ``asynq_py.engine.x.tracing`` has one for OpenTelemetry."""

DEFAULT_MAX_PAYLOAD_BYTES = 32 * 1024 * 1024
"""Largest payload a client stores unless told otherwise (Go has no limit; Redis's is 512 MiB)."""


Durability = Literal["async", "replicated"]
"""``"async"``: acknowledged by the master; ``"replicated"``: also by ``min_replicas`` replicas."""


def _replication(durability: str, min_replicas: int, timeout_s: float) -> rdb.Replication | None:
    if durability == "async":
        return None
    if durability != "replicated":
        raise ValidationError(f"durability must be 'async' or 'replicated', not {durability!r}")
    if min_replicas < 1:
        raise ValidationError(f"min_replicas must be at least 1, not {min_replicas}")
    if not timeout_s > 0:
        raise ValidationError(f"replication_timeout_s must be positive, not {timeout_s}")
    return rdb.Replication(min_replicas, timeout_s)


_STATES = {state.value: state for state in TaskState}
"""TaskState by value (a dict lookup is a tenth of what ``TaskState(value)`` costs)."""

_MAX_CACHED_TYPES = 10_000
"""How many validated task type names a client remembers (so that each is checked once)."""

_MAX_SHAPES = 1_000
"""How many shapes (see ``_Shape``) a client remembers; it forgets them all when it has more."""


_ID_BATCH = 64
"""Task ids made from one read of the system's random source."""

_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
"""A UUID's variant digit (RFC 9562: 0b10xx) for a random hex digit."""

_spare_ids: list[str] = []
"""Ids made and not yet used (list.pop hands each to one thread only; a forked child drops them)."""

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_spare_ids.clear)


def new_task_id() -> str:
    """Return a random (version 4) UUID string, as Go asynq's ``uuid.NewString`` does."""
    # What uuid.uuid4() does, a batch at a time: an enqueue makes one of these, and one system
    # call per id cost more than the formatting.
    try:
        return _spare_ids.pop()
    except IndexError:
        h = os.urandom(16 * _ID_BATCH).hex()
        _spare_ids.extend(
            f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
            f"{_VARIANT[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
            for i in range(0, len(h), 32)
        )
        return _spare_ids.pop()


class _Shape:
    """What the tasks of one type enqueued with the same options share, worked out once.

    A client keeps the shape of each task type and task options it enqueues without call options
    (``Task.options`` is one shared object for every task made without options); a call with
    options makes its own, once for all the tasks of an ``enqueue_many``.
    """

    __slots__ = (
        "deadline",
        "encoder",
        "group",
        "headers",
        "process_at",
        "process_in",
        "queue",
        "retention",
        "retry",
        "task_id",
        "task_options",
        "timeout",
        "type",
        "unique_ttl_s",
    )

    def __init__(self, task_type: str, task_options: EnqueueOptions, opts: EnqueueOptions) -> None:
        self.type = task_type
        self.task_options = task_options
        """Kept so that its id, the shape's key, is not reused while the shape is remembered."""
        self.queue = opts.queue or "default"
        timeout = opts.timeout
        if (timeout is None or not timeout) and opts.deadline is None:
            timeout = DEFAULT_TIMEOUT
        self.retry = DEFAULT_MAX_RETRY if opts.max_retry is None else opts.max_retry
        self.timeout = int(timeout.total_seconds()) if timeout else 0
        self.deadline = int(opts.deadline.timestamp()) if opts.deadline else 0
        self.group = opts.group or ""
        self.retention = int(opts.retention.total_seconds()) if opts.retention else 0
        self.headers = dict(opts.headers) if opts.headers else None
        self.task_id = opts.task_id
        self.unique_ttl_s = int(opts.unique.total_seconds()) if opts.unique else None
        self.process_at = opts.process_at.timestamp() if opts.process_at is not None else None
        self.process_in = opts.process_in.total_seconds() if opts.process_in is not None else None
        self.encoder = NewTaskEncoder(
            task_type, self.queue, self.retry, self.timeout, self.deadline, self.retention, self.group
        )


class _ClientCore:
    """Everything a client does that is not I/O."""

    def __init__(
        self,
        clock: Clock,
        max_payload_bytes: int | None,
        hook: EnqueueHook | None,
        replication: rdb.Replication | None = None,
    ) -> None:
        self.clock = clock
        self.max_payload_bytes = max_payload_bytes
        self.hook = hook
        self.replication = replication
        self.registered_queues: set[str] = set()
        self.type_defaults: dict[str, EnqueueOptions] = {}
        self._valid_types: set[str] = set()
        self._shapes: dict[tuple[str, int], _Shape] = {}

    def set_default_options(self, task_type: str, options: Options) -> None:
        self.type_defaults[validate_task_type(task_type)] = parse_options(options)
        self._shapes.clear()

    def _shape(
        self, task: Task, call: EnqueueOptions | None, shapes: dict[tuple[str, int], _Shape]
    ) -> _Shape:
        """The shape of ``task`` enqueued with the call options ``call``, from ``shapes`` if there."""
        task_options = task.options
        key = (task.type, id(task_options))
        shape = shapes.get(key)
        if shape is not None:
            return shape
        task_type = task.type
        if task_type not in self._valid_types:
            validate_task_type(task_type)
            if len(self._valid_types) < _MAX_CACHED_TYPES:
                self._valid_types.add(task_type)
        opts = task_options
        defaults = self.type_defaults.get(task_type)
        if defaults is not None:
            opts = merge_options(defaults, opts)
        if call is not None:
            opts = merge_options(opts, call)
        shape = _Shape(task_type, task_options, opts)
        if len(shapes) >= _MAX_SHAPES:
            shapes.clear()
        shapes[key] = shape
        return shape

    def _shapes_for(self, options: Options) -> tuple[EnqueueOptions | None, dict[tuple[str, int], _Shape]]:
        """The call options parsed, and where the shapes of a call with them are kept."""
        if not options:
            return None, self._shapes
        return parse_options(options), {}

    def message(self, task: Task, shape: _Shape, now: float) -> rdb.NewTask:
        """Build the message ``task`` is stored as, and the rest of what ``rdb.enqueue`` takes."""
        raw = task.raw_payload
        if self.max_payload_bytes is not None and raw is not None and len(raw) > self.max_payload_bytes:
            raise ValidationError(
                f"payload of {len(raw)} bytes is larger than the limit of {self.max_payload_bytes} bytes"
            )
        payload = raw or b""
        queue = shape.queue
        task_type = shape.type
        process_at = now
        if shape.process_at is not None:
            process_at = shape.process_at
        elif shape.process_in is not None:
            process_at = now + shape.process_in
        unique_key = ""
        if shape.unique_ttl_s is not None:
            checksum = "" if raw is None else hashlib.md5(raw, usedforsecurity=False).hexdigest()
            unique_key = keys.unique_key(queue, task_type, checksum)
        headers = task.headers
        if shape.headers:
            headers = {**headers, **shape.headers}
        task_id = shape.task_id or new_task_id()
        if self.hook is not None:
            headers = {**(self.hook(task_type, queue, task_id) or {}), **headers}
        headers = dict(headers) if headers else {}
        # Positional, in TaskMessage's field order: keywords cost twice as much, and every task
        # makes one.
        msg = TaskMessage(
            task_type,
            payload,
            task_id,
            queue,
            shape.retry,
            0,
            "",
            0,
            shape.timeout,
            shape.deadline,
            unique_key,
            shape.group,
            shape.retention,
            0,
            headers,
        )
        data = shape.encoder.encode(payload, task_id, unique_key, headers)
        return msg, data, now, process_at, shape.unique_ttl_s

    def enqueue_plan(self, task: Task, options: Options) -> Plan[TaskInfo]:
        new = self.new_task(task, options)
        msg, _, now, process_at, _ = new
        state = yield from rdb.enqueue(
            new, register_queue=msg.queue not in self.registered_queues, replication=self.replication
        )
        self.registered_queues.add(msg.queue)
        return self._info(msg, state, now, process_at)

    def new_task(self, task: Task, options: Options) -> rdb.NewTask:
        """Build what ``store_plan`` takes for one task, enqueued now."""
        call, shapes = self._shapes_for(options)
        return self.message(task, self._shape(task, call, shapes), self.clock.now())

    def enqueue_many_plan(self, tasks: Iterable[Task], options: Options) -> Plan[list[TaskInfo | AsynqError]]:
        now = self.clock.now()
        call, shapes = self._shapes_for(options)
        return (
            yield from self.store_plan([self.message(t, self._shape(t, call, shapes), now) for t in tasks])
        )

    def store_plan(self, tasks: Sequence[rdb.NewTask]) -> Plan[list[TaskInfo | AsynqError]]:
        """Store ``tasks``; return each one's info or error, in order."""
        if not tasks:
            return []
        # One script call per queue and chunk (docs/wire.md §4.1.23): each queue's keys share a
        # hash tag, so a call is cluster-safe, and its tasks are written in the order given.
        by_queue: dict[str, list[int]] = {}
        for i, new in enumerate(tasks):
            by_queue.setdefault(new[0].queue, []).append(i)
        chunks = [
            indexes[start : start + rdb.ENQUEUE_MANY_CHUNK]
            for indexes in by_queue.values()
            for start in range(0, len(indexes), rdb.ENQUEUE_MANY_CHUNK)
        ]
        calls = [
            rdb.enqueue_many_call(tasks[chunk[0]][0].queue, [tasks[i] for i in chunk]) for chunk in chunks
        ]
        new_queues = sorted(by_queue.keys() - self.registered_queues)
        # One WAIT per queue after all the writes: each goes to the node that owns its queue.
        replication = self.replication
        queues = list(by_queue) if replication else []
        waits = [rdb.wait_call(q, replication) for q in queues if replication]
        replies = yield Batch((*(rdb.sadd_queue_call(q) for q in new_queues), *calls, *waits))
        acked = dict(zip(queues, replies[len(replies) - len(waits) :], strict=True))
        registered = replies[: len(new_queues)]
        # A queue whose SADD failed is registered by the next enqueue to it.
        self.registered_queues.update(
            q for q, r in zip(new_queues, registered, strict=True) if not isinstance(r, Exception)
        )
        codes: list[Any] = [None] * len(tasks)
        for chunk, reply in zip(chunks, replies[len(new_queues) : len(replies) - len(waits)], strict=True):
            for n, i in enumerate(chunk):  # a call that failed as a whole failed each of its tasks
                codes[i] = reply if isinstance(reply, AsynqError) else reply[n]
        results: list[TaskInfo | AsynqError] = []
        for (msg, _, now, process_at, _), code in zip(tasks, codes, strict=True):
            if isinstance(code, AsynqError):
                results.append(code)
                continue
            try:
                state = rdb.enqueue_result(msg, code, now=now, process_at=process_at)
            except AsynqError as exc:
                results.append(exc)
                continue
            error = None if replication is None else rdb.replication_error(msg, acked[msg.queue], replication)
            results.append(error or self._info(msg, state, now, process_at))
        return results

    @staticmethod
    def _info(msg: TaskMessage, state: str, now: float, process_at: float) -> TaskInfo:
        next_at = now if state == "pending" else process_at if state == "scheduled" else 0
        return task_info_from_message(msg, _STATES[state], next_process_at=next_at)


class Client:
    """Enqueues tasks (blocking).

    Args:
        redis: A Redis URL, a ``RedisConnOpt``, or a ``redis.Redis`` client (not closed by ``close``).
        clock: Time source (default the system clock).
        max_payload_bytes: Refuse larger payloads before any Redis call; None for no limit
            (default 32 MiB).
        enqueue_hook: Adds headers to every task enqueued, e.g. the trace context (default none).
        durability: ``"async"`` (default): an enqueue returns once the master stored the task, as
            Redis replicates asynchronously. ``"replicated"``: it also waits (``WAIT``) until
            ``min_replicas`` replicas have it, and raises ``NotReplicatedError`` when they do not
            within ``replication_timeout_s`` (``enqueue_many``: one WAIT per queue in the batch).
        min_replicas: Replicas that must acknowledge a replicated enqueue (default 1).
        replication_timeout_s: Longest wait for them, in seconds (default 1.0).
    """

    def __init__(
        self,
        redis: RedisLike | None = None,
        *,
        clock: Clock | None = None,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        enqueue_hook: EnqueueHook | None = None,
        durability: Durability = "async",
        min_replicas: int = 1,
        replication_timeout_s: float = 1.0,
    ) -> None:
        replication = _replication(durability, min_replicas, replication_timeout_s)
        self._core = _ClientCore(clock or RealClock(), max_payload_bytes, enqueue_hook, replication)
        self._broker = Broker(redis)

    def enqueue(self, task: Task, **options: Unpack[Options]) -> TaskInfo:
        """Store ``task``; it runs now unless ``process_at``/``process_in`` say later.

        Options (keyword-only): ``max_retry``, ``queue``, ``task_id``, ``timeout``, ``deadline``,
        ``unique``, ``process_at``, ``process_in``, ``retention``, ``group``, ``headers``.

        Raises:
            ValidationError: an option or name is invalid; nothing was written.
            DuplicateTaskError: ``unique`` was given and the lock is held.
            TaskIdConflictError: a task with ``task_id`` exists in the queue.
            NotReplicatedError: ``durability="replicated"`` and too few replicas acknowledged it.
            RedisUnavailableError: Redis could not be reached.
        """
        return self._broker.run(self._core.enqueue_plan(task, options))

    def enqueue_in(self, delay: timedelta | float, task: Task, **options: Unpack[LaterOptions]) -> TaskInfo:
        """Store ``task`` to run after ``delay`` (a timedelta or seconds)."""
        return self.enqueue(task, **options, process_in=delay)

    def enqueue_at(self, when: datetime, task: Task, **options: Unpack[LaterOptions]) -> TaskInfo:
        """Store ``task`` to run at ``when`` (timezone-aware)."""
        return self.enqueue(task, **options, process_at=when)

    def enqueue_many(self, tasks: Iterable[Task], **options: Unpack[Options]) -> list[TaskInfo | AsynqError]:
        """Store many tasks in one pipelined round trip; return each one's info or error, in order."""
        return self._broker.run(self._core.enqueue_many_plan(tasks, options))

    def set_default_options(self, task_type: str, **options: Unpack[Options]) -> None:
        """Apply ``options`` to every task of ``task_type`` (task and enqueue options override them)."""
        self._core.set_default_options(task_type, options)

    def close(self) -> None:
        """Close the connection pool (unless the Redis client was passed in)."""
        self._broker.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """Enqueues tasks (asyncio); the same methods as ``Client``, awaited.

    Args:
        redis: A Redis URL, a ``RedisConnOpt``, or a ``redis.asyncio.Redis`` client.
        clock: Time source (default the system clock).
        max_payload_bytes: Refuse larger payloads before any Redis call; None for no limit
            (default 32 MiB).
        enqueue_hook: Adds headers to every task enqueued, e.g. the trace context (default none).
        durability: ``"async"`` (default): an enqueue returns once the master stored the task, as
            Redis replicates asynchronously. ``"replicated"``: it also waits (``WAIT``) until
            ``min_replicas`` replicas have it, and raises ``NotReplicatedError`` when they do not
            within ``replication_timeout_s`` (``enqueue_many``: one WAIT per queue in the batch).
        min_replicas: Replicas that must acknowledge a replicated enqueue (default 1).
        replication_timeout_s: Longest wait for them, in seconds (default 1.0).
    """

    def __init__(
        self,
        redis: RedisLike | None = None,
        *,
        clock: Clock | None = None,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        enqueue_hook: EnqueueHook | None = None,
        durability: Durability = "async",
        min_replicas: int = 1,
        replication_timeout_s: float = 1.0,
    ) -> None:
        replication = _replication(durability, min_replicas, replication_timeout_s)
        self._core = _ClientCore(clock or RealClock(), max_payload_bytes, enqueue_hook, replication)
        self._broker = AsyncBroker(redis)
        # Imported here: coalescing loads asyncio, which the blocking Client does not need.
        from .coalescing import Coalescer

        self._coalescer = Coalescer(self._broker, self._core.store_plan)

    async def enqueue(self, task: Task, **options: Unpack[Options]) -> TaskInfo:
        """Store ``task``; see ``Client.enqueue``.

        Enqueues awaited concurrently (for example from many request handlers) are coalesced:
        those made while another is in flight go to Redis together, one script call per queue,
        and each caller still gets its own result or error.
        """
        coalescer = self._coalescer
        if not coalescer.goes_alone():
            return await coalescer.submit(self._core.new_task(task, options))
        # Counted here rather than in a coroutine of the coalescer's: a lone enqueue is this
        # coroutine and the broker's, nothing more (docs/benchmarks.md, session 4).
        coalescer.busy += 1
        try:
            return await self._broker.run(self._core.enqueue_plan(task, options))
        finally:
            coalescer.busy -= 1

    async def enqueue_in(
        self, delay: timedelta | float, task: Task, **options: Unpack[LaterOptions]
    ) -> TaskInfo:
        """Store ``task`` to run after ``delay`` (a timedelta or seconds)."""
        return await self.enqueue(task, **options, process_in=delay)

    async def enqueue_at(self, when: datetime, task: Task, **options: Unpack[LaterOptions]) -> TaskInfo:
        """Store ``task`` to run at ``when`` (timezone-aware)."""
        return await self.enqueue(task, **options, process_at=when)

    async def enqueue_many(
        self, tasks: Iterable[Task], **options: Unpack[Options]
    ) -> list[TaskInfo | AsynqError]:
        """Store many tasks in one pipelined round trip; return each one's info or error, in order."""
        return await self._broker.run(self._core.enqueue_many_plan(tasks, options))

    def set_default_options(self, task_type: str, **options: Unpack[Options]) -> None:
        """Apply ``options`` to every task of ``task_type`` (task and enqueue options override them)."""
        self._core.set_default_options(task_type, options)

    async def aclose(self) -> None:
        """Close the connection pool (unless the Redis client was passed in)."""
        await self._broker.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
