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
from .wire import TaskMessage

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


_ID_BATCH = 64
"""Task ids made from one read of the system's random source."""

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
            f"{'89ab'[int(h[i + 16], 16) & 3]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
            for i in range(0, len(h), 32)
        )
        return _spare_ids.pop()


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

    def set_default_options(self, task_type: str, options: Options) -> None:
        self.type_defaults[validate_task_type(task_type)] = parse_options(options)

    def message(self, task: Task, options: Options, now: float) -> tuple[TaskMessage, EnqueueOptions, float]:
        """Build the message a task is stored as; return it, the merged options and process_at."""
        task_type = task.type
        if task_type not in self._valid_types:
            validate_task_type(task_type)
            if len(self._valid_types) < _MAX_CACHED_TYPES:
                self._valid_types.add(task_type)
        opts = task.options
        defaults = self.type_defaults.get(task_type)
        if defaults is not None:
            opts = merge_options(defaults, opts)
        if options:
            opts = merge_options(opts, parse_options(options))
        raw = task.raw_payload
        if self.max_payload_bytes is not None and raw is not None and len(raw) > self.max_payload_bytes:
            raise ValidationError(
                f"payload of {len(raw)} bytes is larger than the limit of {self.max_payload_bytes} bytes"
            )
        queue = opts.queue or "default"
        timeout = opts.timeout
        if (timeout is None or not timeout) and opts.deadline is None:
            timeout = DEFAULT_TIMEOUT
        process_at = now
        if opts.process_at is not None:
            process_at = opts.process_at.timestamp()
        elif opts.process_in is not None:
            process_at = now + opts.process_in.total_seconds()
        unique_key = ""
        if opts.unique is not None:
            checksum = "" if raw is None else hashlib.md5(raw, usedforsecurity=False).hexdigest()
            unique_key = keys.unique_key(queue, task_type, checksum)
        headers = task.headers
        if opts.headers:
            headers = {**headers, **dict(opts.headers)}
        task_id = opts.task_id or new_task_id()
        if self.hook is not None:
            headers = {**(self.hook(task_type, queue, task_id) or {}), **headers}
        msg = TaskMessage(
            type=task_type,
            payload=raw or b"",
            headers=dict(headers) if headers else {},
            id=task_id,
            queue=queue,
            retry=DEFAULT_MAX_RETRY if opts.max_retry is None else opts.max_retry,
            timeout=int(timeout.total_seconds()) if timeout else 0,
            deadline=int(opts.deadline.timestamp()) if opts.deadline else 0,
            unique_key=unique_key,
            group_key=opts.group or "",
            retention=int(opts.retention.total_seconds()) if opts.retention else 0,
        )
        return msg, opts, process_at

    def enqueue_plan(self, task: Task, options: Options) -> Plan[TaskInfo]:
        now = self.clock.now()
        msg, opts, process_at = self.message(task, options, now)
        state = yield from rdb.enqueue(
            msg,
            now=now,
            process_at=process_at,
            unique_ttl_s=self._unique_ttl_s(opts),
            register_queue=msg.queue not in self.registered_queues,
            replication=self.replication,
        )
        self.registered_queues.add(msg.queue)
        return self._info(msg, state, now, process_at)

    def new_task(self, task: Task, options: Options) -> rdb.NewTask:
        """Build what ``store_plan`` takes for one task, enqueued now."""
        now = self.clock.now()
        msg, opts, process_at = self.message(task, options, now)
        return msg, now, process_at, self._unique_ttl_s(opts)

    def enqueue_many_plan(self, tasks: Iterable[Task], options: Options) -> Plan[list[TaskInfo | AsynqError]]:
        now = self.clock.now()
        built = [self.message(task, options, now) for task in tasks]
        return (yield from self.store_plan([(m, now, at, self._unique_ttl_s(o)) for m, o, at in built]))

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
        for (msg, now, process_at, _), code in zip(tasks, codes, strict=True):
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
    def _unique_ttl_s(opts: EnqueueOptions) -> int | None:
        return int(opts.unique.total_seconds()) if opts.unique else None

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
