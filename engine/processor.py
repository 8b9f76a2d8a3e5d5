"""The processor: dequeue under a lease, run the handler, write the outcome (docs/wire.md §5.2).

``async def`` handlers run on the event loop; ``def`` handlers in a bounded thread pool. Each
outcome is one script (done, mark_complete, retry, archive, requeue), and the outcomes of tasks
finishing together are sent in one pipelined round trip, with the next dequeue behind them while
every slot is busy: Redis frees the slots before it fills them again, so a busy worker pays one
round trip (and one write) per batch of tasks instead of two. A write is made only while the
task's lease is valid; a write that fails because Redis is away is retried until the lease runs
out.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import keys, rdb
from .broker import AsyncBroker, Broker
from .calls import Batch, Call, Command, Plan, Script, T
from .clock import Clock
from .config import ServerConfig
from .context import TaskContext
from .errors import (
    AsynqError,
    DecodeError,
    RateLimited,
    RedisUnavailableError,
    RevokeTask,
    SkipRetry,
    TaskStateError,
)
from .holds import QueueHolds
from .mux import HandlerFunc, is_async_handler
from .observer import Outcome
from .ratelimit import RateLimitedLog
from .task import Task, received_task
from .threads import HandlerThreads
from .wire import TaskMessage, decode_stored_task

__all__ = ["Processor", "Registry", "Running", "log_fields", "queue_order"]

MAX_ERROR_LENGTH = 4096
"""Longest error message stored in a task (reliability spec S12)."""
DEFAULT_TIMEOUT_S = 1800
"""Deadline used when a message has neither timeout nor deadline (Go's fallback)."""
MAX_FETCH = 64
"""Most tasks one dequeue call takes."""


@dataclass(eq=False)
class Running:
    """A task being processed here; shared with the heartbeat thread through ``Registry``."""

    msg: TaskMessage
    ctx: TaskContext
    started: float
    deadline: float
    lease_expiry: float
    stop_reason: asyncio.Future[str]
    loop: asyncio.AbstractEventLoop
    handler: asyncio.Future[Any] | None = None
    """The running ``def`` handler's future (a thread's)."""
    own: asyncio.Task[None] | None = None
    """The run's own task."""
    inline: asyncio.Task[Any] | None = None
    """The task an ``async def`` handler runs in, while it runs (the run's own task)."""
    finishing: bool = False
    """The handler's outcome is known and being written (a write that removes the lease)."""
    done: bool = False
    """The outcome is written (or given up); the heartbeat stops extending the lease."""
    lost: bool = False
    """The lease expired before it could be extended."""

    def stop(self, reason: str) -> None:
        """Ask the run to stop (thread-safe); the first reason wins."""
        self.loop.call_soon_threadsafe(self._stop, reason)

    def lose(self) -> None:
        """Mark the lease lost and stop the run (from the heartbeat thread).

        ``ctx.cancelled`` is set here, not through the event loop: the network fault that cost the
        lease may be stalling the loop, and another worker may start the task soon. The outcome of
        a lost run is never written, whoever finishes first.
        """
        self.lost = True
        self.ctx.cancelled.set()
        self.stop("lost")

    def _stop(self, reason: str) -> None:
        if self.stop_reason.done() or (self.handler is not None and self.handler.done()):
            return  # the handler finished first (its outcome stands), or an earlier reason won
        self.stop_reason.set_result(reason)
        self.ctx.cancelled.set()
        if self.inline is not None:
            self.inline.cancel()


@dataclass
class Registry:
    """The tasks running in this server, keyed by id, safe to read from the heartbeat thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    running: dict[str, Running] = field(default_factory=dict)

    def add(self, r: Running) -> None:
        """Register a run."""
        with self.lock:
            self.running[r.msg.id] = r

    def remove(self, r: Running) -> None:
        """Forget a run."""
        with self.lock:
            if self.running.get(r.msg.id) is r:
                del self.running[r.msg.id]

    def snapshot(self) -> list[Running]:
        """Return the runs now."""
        with self.lock:
            return list(self.running.values())

    def get(self, task_id: str) -> Running | None:
        """Return the run of ``task_id`` here, if any."""
        with self.lock:
            return self.running.get(task_id)


def queue_order(queues: dict[str, int], strict: bool) -> list[str]:
    """Return the order to try queues in: by priority when strict, else weighted random (Go's)."""
    if len(queues) == 1:
        return list(queues)
    if strict:
        return sorted(queues, key=lambda q: (-queues[q], q))
    divisor = math.gcd(*queues.values())
    names = [q for q, p in queues.items() for _ in range(p // divisor)]
    random.shuffle(names)
    return list(dict.fromkeys(names))


def error_message(exc: BaseException) -> str:
    """Return the message stored for a failure, in Go's words where Go has them."""
    if isinstance(exc, TimeoutError):
        text = "context deadline exceeded"
    elif isinstance(exc, asyncio.CancelledError):
        text = "context canceled"
    else:
        text = str(exc) or type(exc).__name__
    return text[:MAX_ERROR_LENGTH]


Prefetch = Callable[[int], tuple[Script | Command, Callable[[Any], None]] | None]
"""Asked at each flush with the slots its outcomes free: a call to send behind them (a dequeue)
and what to do with its reply (a value, or the ``AsynqError`` it failed with), or None."""


class _Acker:
    """Sends the outcomes of tasks that finish together in one pipelined round trip."""

    def __init__(self, broker: AsyncBroker, prefetch: Prefetch, logger: logging.Logger) -> None:
        self._broker = broker
        self._prefetch = prefetch
        self._log = logger
        self._pending: list[tuple[tuple[Script | Command, ...], Callable[[list[Any]], None]]] = []
        self._frees = 0
        """Slots that the pending outcomes free once written."""
        self._flushing = False

    def submit(
        self, calls: tuple[Script | Command, ...], frees: bool, written: Callable[[list[Any]], None]
    ) -> None:
        """Send ``calls`` with the other outcomes of this loop step, then give ``written`` their
        replies (each an ``AsynqError`` if it failed); ``frees``: a slot frees once they are written."""
        self._pending.append((calls, written))
        self._frees += frees
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let every completion of this loop iteration join the batch
            while self._pending:
                batch, self._pending = self._pending, []
                frees, self._frees = self._frees, 0
                flat = tuple(c for calls, _ in batch for c in calls)
                behind = self._prefetch(frees)
                if behind is not None:
                    flat += (behind[0],)
                try:
                    replies: list[Any] = await self._broker.execute(Batch(flat))
                except AsynqError as exc:
                    replies = [exc] * len(flat)
                if behind is not None:
                    # Taken first: its tasks then start in the slots these outcomes free.
                    self._deliver(behind[1], replies[-1])
                i = 0
                for calls, written in batch:
                    self._deliver(written, replies[i : i + len(calls)])
                    i += len(calls)
        finally:
            self._flushing = False

    def _deliver(self, to: Callable[[Any], None], reply: Any) -> None:
        try:
            to(reply)
        except Exception:  # one run's failure must not keep the others' slots
            self._log.exception("could not finish a task's outcome")


class _Deadlines:
    """Stops runs whose deadline passed, with one timer for all of them rather than one each.

    The timer is set for the earliest deadline it knows of; a run that ends first leaves it set,
    and when it fires it stops the runs that are due and is set again for the earliest of the
    rest. Deadlines are kept in event-loop time, so a run stops after the time its deadline was
    away when it started, whatever the ``Clock`` says later.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: dict[Running, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._at = math.inf

    def add(self, run: Running, in_s: float) -> None:
        """Stop ``run`` in ``in_s`` seconds unless it is removed first."""
        due = self._due[run] = self._loop.time() + max(0.0, in_s)
        if due < self._at:
            self._arm(due)

    def remove(self, run: Running) -> None:
        """Forget ``run`` (it ended)."""
        self._due.pop(run, None)

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._at = due
        self._timer = self._loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._timer, self._at = None, math.inf
        now = self._loop.time()
        for run in [r for r, due in self._due.items() if due <= now]:
            del self._due[run]
            run._stop("deadline")
        if self._due:
            self._arm(min(self._due.values()))


class Processor:
    """Fetches tasks while slots are free and runs each to its outcome."""

    def __init__(
        self,
        broker: AsyncBroker,
        sync_broker: Broker,
        config: ServerConfig,
        resolve: Callable[[str], HandlerFunc],
        clock: Clock,
        registry: Registry,
        logger: logging.Logger,
    ) -> None:
        self._broker = broker
        self._sync_broker = sync_broker
        self._config = config
        self._queues = config.effective_queues()
        self._resolve = resolve
        self._clock = clock
        self._registry = registry
        self._log = logger
        self._limited = RateLimitedLog(logger)
        self._observer = config.observer
        self._free = config.concurrency
        self._slot_freed = asyncio.Event()
        self._wake = asyncio.Event()
        self._holds = QueueHolds()
        self._blocking = broker.can_block
        """Whether an idle fetch blocks on the queues' wake lists (docs/wire.md §2.4)."""
        self.on_polling: Callable[[], None] = lambda: None
        """Called when the server stops blocking on the wake lists (Redis refused the wait): from
        then on, only wake-up messages and the poll find new work."""
        self._wake_lists = {keys.wake_list_key(q): q for q in sorted(self._queues)}
        """Each wake list the fetch loop blocks on, and its queue."""
        self._fetching = True
        self._loop = asyncio.get_running_loop()
        self._threads = HandlerThreads(self._loop, config.concurrency)
        self._acker = _Acker(broker, self._prefetch, logger)
        self._deadlines = _Deadlines(self._loop)
        self._saturated = False
        """The fetch loop waits for a slot: the next outcomes' write takes a dequeue behind it."""
        self._inflight = 0
        """Tasks that dequeues sent behind outcomes may still bring."""
        self._ready: collections.deque[rdb.Dequeued] = collections.deque()
        """Tasks fetched ahead of a free slot, started as slots free."""
        self._runs: set[asyncio.Task[None]] = set()
        self._async_handlers: dict[HandlerFunc, bool] = {}
        self._result_writer = self._write_result
        """One bound method for every context."""
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def blocking(self) -> bool:
        """Whether an idle fetch blocks on the wake lists (then no wake-up message is needed)."""
        return self._blocking

    def wake(self) -> None:
        """Tell an idle fetch loop that a queue has work (called on a wake message)."""
        self._holds.work_arrived()
        self._rouse()

    def queue_task_ended(self, queue: str) -> None:
        """Tell the fetch loop that a task of ``queue`` ended elsewhere (called on a ``slot`` message):
        a hold of the queue that it may have lifted ends at once."""
        if self._holds.task_finished(queue):
            self._rouse()

    def stop_fetching(self) -> None:
        """Take no new tasks (Go's Stop / SIGTSTP); running ones go on."""
        self._fetching = False
        self._wake.set()
        self._slot_freed.set()
        while self._ready:
            self._spawn(self._requeue_raw(self._ready.popleft()))
        # Dropping the wait drops the dequeue queued behind it, which Redis has not run yet.
        self._broker.cancel_wait()

    def _rouse(self) -> None:
        """End the fetch loop's wait: on the wake event, or on the wake lists."""
        self._wake.set()
        if self._broker.waiting:
            self._spawn(self._broker.unblock())

    async def fetch_loop(self) -> None:
        """Dequeue and start tasks until ``stop_fetching``."""
        interval = self._config.task_check_interval_s
        block_s = 0.0
        """How long the next dequeue first waits on the wake lists (0: it does not)."""
        while self._fetching:
            count = self._fetchable()
            if count <= 0:
                self._slot_freed.clear()
                self._saturated = True
                await self._slot_freed.wait()
                self._saturated = False
                block_s = 0.0  # (work that came meanwhile may have left a token that expired)
                continue
            self._wake.clear()
            woke = block_s > 0
            plan = self._dequeue(count, relay=woke)
            if plan is None:
                # Every queue is held by a limit: wait for the first hold to end, or for a finished
                # task or new work that may lift one.
                await self._wait_for_work(self._holds.wait_s(time.monotonic()) or 0.0)
                continue
            try:
                if woke:
                    fetched = await self._wait_in_runner(plan, block_s)
                else:
                    fetched = await self._broker.run(plan)
            except AsynqError as exc:
                if not self._fetching:
                    break  # the wait was dropped by stop_fetching
                self._limited.log(logging.ERROR, "dequeue", "cannot fetch tasks: %s", exc)
                if self._observer is not None:
                    self._observer.redis_error(type(exc).__name__)
                block_s = 0.0
                await self._wait_for_work(1.0)
                continue
            block_s = 0.0
            if not woke:  # (the runner has taken them)
                self._take(fetched)
            if not fetched.tasks:
                block_s = await self._nothing_to_take(interval)
                continue
            block_s = self._left_empty(count, fetched, interval)

    async def _wait_in_runner(self, plan: Plan[rdb.Fetched], block_s: float) -> rdb.Fetched:
        """Wait on the wake lists, then dequeue (``_fetch_after_wake``), in a task of its own that
        runs the first task the dequeue brings itself (``_wait_then_run``); return what it brought.

        After a wake-up, the first handler starts as the reply is read: no task is created and no
        loop step passes on the way, which is the latency a caller sees. This loop goes on a step
        later, once that handler waits for something.
        """
        done: asyncio.Future[rdb.Fetched] = self._loop.create_future()
        runner = self._loop.create_task(self._wait_then_run(plan, block_s, done), name=WAKE_RUNNER)
        try:
            return await done
        except asyncio.CancelledError:
            # (Cancelling this loop cancelled ``done`` too, unless the runner had given it a result.)
            if done.cancelled() or not done.done():
                runner.cancel()  # the wait goes with this loop; a run it started does not
            raise

    async def _wait_then_run(
        self, plan: Plan[rdb.Fetched], block_s: float, done: asyncio.Future[rdb.Fetched]
    ) -> None:
        try:
            fetched = await self._fetch_after_wake(plan, block_s)
            run = self._take(fetched, keep_first=True)
        except asyncio.CancelledError:
            done.cancel()
            raise
        except Exception as exc:  # the fetch loop handles it as its own
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(fetched)
        if run is not None:
            me = asyncio.current_task()
            assert me is not None
            run.own = me
            self._runs.add(me)
            me.add_done_callback(self._runs.discard)
            await self._process(run)

    def _left_empty(self, count: int, fetched: rdb.Fetched, interval: float) -> float:
        """How long the next dequeue first waits on the wake lists after one that asked for
        ``count`` tasks and got ``fetched``: if it left the server's only queue empty (new work
        pushes a token), an idle poll, sparing a dequeue that would find nothing; else 0."""
        if len(self._queues) > 1 or len(fetched.tasks) >= count or fetched.holds or not self._blocking:
            return 0.0
        return 0.0 if self._wake.is_set() else _idle_s(interval)

    async def _nothing_to_take(self, interval: float) -> float:
        """Nothing to take: wait for work, or return how long the next dequeue first waits on the
        wake lists (it is then the poll)."""
        idle = _idle_s(interval)
        held = self._holds.wait_s(time.monotonic())
        if held is None and self._blocking and not self._wake.is_set():
            return idle
        # (A queue held by a limit is asked again when its hold ends, not on a wake-up.)
        await self._wait_for_work(idle if held is None else min(idle, held))
        return 0.0

    def _fetchable(self) -> int:
        """How many tasks a dequeue may ask for now: the free slots that no task or dequeue has."""
        return min(self._free - len(self._ready) - self._inflight, MAX_FETCH)

    def _dequeue(self, count: int, *, relay: bool = False) -> Plan[rdb.Fetched] | None:
        """A dequeue of up to ``count`` tasks from the queues no limit holds; None if all are held.
        ``relay``: after a wait on the wake lists (see ``rdb.dequeue``)."""
        order = self._holds.open(queue_order(self._queues, self._config.strict_priority), time.monotonic())
        if not order:
            return None
        lease_s = self._config.lease_duration_s
        return rdb.dequeue(order, now=self._clock.now(), count=count, lease_s=lease_s, relay=relay)

    def _prefetch(self, frees: int) -> tuple[Script | Command, Callable[[Any], None]] | None:
        """The dequeue to send behind outcomes that free ``frees`` slots, while the fetch loop waits
        for a slot (its last dequeue filled them all); Redis runs it after the outcomes."""
        if not (self._saturated and self._fetching):
            return None
        count = min(self._fetchable() + frees, MAX_FETCH)
        plan = self._dequeue(count) if count > 0 else None
        if plan is None:
            return None
        call = next(plan)
        assert isinstance(call, Script | Command), "a dequeue's calls are single calls"
        self._inflight += count
        return call, lambda reply: self._prefetched(plan, count, reply)

    def _prefetched(self, plan: Plan[rdb.Fetched], count: int, reply: Any) -> None:
        """Go on with a dequeue sent behind outcomes, given its first call's reply."""
        try:
            call = plan.throw(reply) if isinstance(reply, AsynqError) else plan.send(reply)
        except StopIteration as stop:
            self._landed(count, stop.value)
        except AsynqError as exc:
            self._landed(count, exc)
        else:  # the first queue had nothing: the next ones are asked in their own round trips
            self._spawn(self._prefetch_rest(_resumed(plan, call), count))

    async def _prefetch_rest(self, plan: Plan[rdb.Fetched], count: int) -> None:
        try:
            fetched: rdb.Fetched | AsynqError = await self._broker.run(plan)
        except AsynqError as exc:
            fetched = exc
        self._landed(count, fetched)

    def _landed(self, count: int, fetched: rdb.Fetched | AsynqError) -> None:
        """Take the reply of a dequeue sent behind outcomes; wake the fetch loop for the slots it
        left free (the queues may have run dry)."""
        self._inflight -= count
        if isinstance(fetched, AsynqError):
            self._limited.log(logging.ERROR, "dequeue", "cannot fetch tasks: %s", fetched)
        else:
            self._take(fetched)
        if self._fetchable() > 0:
            self._slot_freed.set()

    def _take(self, fetched: rdb.Fetched, *, keep_first: bool = False) -> Running | None:
        """Start the tasks of a dequeue's reply in the free slots; the rest wait for slots.

        With ``keep_first``, the first task that can start is not given a task of its own: its run
        is returned, with its slot taken, for the caller to process in its own task.
        """
        self._holds.note(fetched.holds, time.monotonic())
        kept = None
        for item in fetched.tasks:
            if not self._fetching:
                # Stopped while this dequeue was in flight: give the task back at once.
                self._spawn(self._requeue_raw(item))
            elif self._free > 0 and not self._ready:
                if keep_first and kept is None:
                    kept = self._prepare(item)
                else:
                    self._start(item)
            else:
                self._ready.append(item)
        return kept

    async def _fetch_after_wake(self, plan: Plan[rdb.Fetched], block_s: float) -> rdb.Fetched:
        """Run the dequeue ``plan`` once a wake list has a token, or after ``block_s`` (the poll)."""
        woken, fetched = await self._broker.run_after_wake(plan, list(self._wake_lists), block_s)
        if isinstance(woken, str):
            self._holds.work_arrived()
            # A token also comes when a task of a queue with limits ends elsewhere and tasks wait.
            self._holds.task_finished(self._wake_lists[woken])
        elif isinstance(woken, AsynqError):
            self._blocking = False
            self.on_polling()
            self._log.warning(
                "cannot wait on the wake lists (%s); waiting for wake-up messages and polling instead", woken
            )
        return fetched

    async def _wait_for_work(self, timeout: float) -> None:
        """Wait up to ``timeout`` for new work or a lifted hold (``_rouse``).

        A server that blocks on the wake lists waits there (new work pushes a token; no wake-up
        message reaches it); the others wait for a wake-up message.
        """
        if timeout > 0 and self._blocking and not self._wake.is_set():
            # Redis ends a blocked wait up to a tick (100 ms) late: a hold's end needs our own timer.
            timer = asyncio.get_running_loop().call_later(timeout, self._rouse)
            try:
                await self._fetch_after_wake(rdb.nothing(), timeout)
            except AsynqError:
                pass  # (a broken connection, or stop_fetching): the wake event decides below
            else:
                return
            finally:
                timer.cancel()
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _requeue_raw(self, item: rdb.Dequeued) -> None:
        try:
            await self._broker.run(rdb.requeue(TaskMessage(type="", id=item.task_id, queue=item.queue)))
        except AsynqError as exc:
            self._log.warning("could not requeue task %s; it will be recovered: %s", item.task_id, exc)

    def _start(self, item: rdb.Dequeued) -> bool:
        """Start ``item`` in a free slot; False if it cannot run (it then takes no slot)."""
        run = self._prepare(item)
        if run is None:
            return False
        run.own = self._spawn(self._process(run))
        return True

    def _prepare(self, item: rdb.Dequeued) -> Running | None:
        """The run of ``item``, registered in a free slot, to be processed; None if it cannot run
        (it then takes no slot, and what becomes of it is under way)."""
        if item.lease_expiry <= self._clock.now():
            # The reply came so late (a partition that healed) that the lease it set is over: the
            # recoverer may already have handed the task to someone else, so it must not start here.
            self._limited.log(
                logging.WARNING,
                "stale",
                "task %s arrived after its lease expired; leaving it to the recoverer",
                item.task_id,
            )
            return None
        if not item.data:
            self._spawn(self._drop_missing(item))
            return None
        try:
            msg = decode_stored_task(item.data, item.queue, item.task_id)
        except DecodeError as exc:
            self._spawn(self._archive_poison(item, exc))
            return None
        now = self._clock.now()
        deadline = _compute_deadline(msg, now)
        loop = self._loop
        ctx = TaskContext(
            task_id=msg.id,
            queue=msg.queue,
            retry_count=msg.retried,
            max_retry=msg.retry,
            deadline=datetime.fromtimestamp(deadline, UTC),
        )
        run = Running(msg, ctx, now, deadline, item.lease_expiry, loop.create_future(), loop)
        ctx._write_result = self._result_writer
        self._registry.add(run)
        self._free -= 1
        self._idle.clear()
        if self._observer is not None:
            waited = now - item.pending_since_ns / 1e9 if item.pending_since_ns else None
            self._observer.started(msg.queue, msg.type, waited)
        return run

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = self._loop.create_task(coro)
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return task

    def _release(self, _: object = None) -> None:
        """Free a slot: for a task fetched ahead if one waits, else for the fetch loop."""
        self._free += 1
        while self._ready and self._fetching:
            if self._start(self._ready.popleft()):
                return
        self._slot_freed.set()
        if self._free >= self._config.concurrency:
            self._idle.set()

    async def _process(self, run: Running) -> None:
        msg = run.msg
        task = received_task(msg)
        outcome: tuple[str, Any]
        if run.deadline <= self._clock.now():
            # Go checks the task's context before it starts the handler: a deadline already past
            # (or a timeout budget already spent) fails the task without calling it.
            outcome = ("error", TimeoutError())
        else:
            outcome = await self._run_handler(run, task)
        run.finishing = True
        try:
            calls = self._finish(run, task, outcome)
        except BaseException:
            self._end(run)
            raise
        if calls:
            self._write(run, calls, retried=False)
        else:
            self._end(run)

    def _end(self, run: Running) -> None:
        """The run is over: its outcome is written or given up."""
        run.done = True
        self._registry.remove(run)
        # As in Go, the slot frees once the outcome is written, so a crash cuts no more runs than
        # the concurrency; and not before the handler returns (a thread cannot be stopped).
        handler = run.handler
        if handler is None or handler.done():
            self._release()
        else:
            handler.add_done_callback(self._release)
        if self._holds.task_finished(run.msg.queue):
            self._rouse()

    async def _run_handler(self, run: Running, task: Task) -> tuple[str, Any]:
        """Run the handler until it returns, its deadline passes or it is stopped; return the outcome."""
        fn = self._resolve(run.msg.type)
        if self._is_async(fn):
            return await self._run_on_loop(run, fn, task)
        handler = self._threads.submit(fn, run.ctx, task)
        run.handler = handler
        # One future decides the race between the handler, the deadline, and a stop (cancel, lost
        # lease, shutdown): whichever sets it first wins.
        first = run.stop_reason
        handler.add_done_callback(lambda _: _settle(first, "finished"))
        self._deadlines.add(run, run.deadline - self._clock.now())
        reason = await first
        self._deadlines.remove(run)
        if reason == "finished":
            error = handler.exception()
            return ("ok", handler.result()) if error is None else ("error", error)
        # A thread cannot be interrupted: its slot frees when it returns; its result is ignored.
        handler.add_done_callback(_consume_exception)
        return _stopped(reason)

    async def _run_on_loop(self, run: Running, fn: HandlerFunc, task: Task) -> tuple[str, Any]:
        """Run an ``async def`` handler in this run's own task (not a task of its own: one task
        and a few callbacks less per run); a stop cancels this task while the handler runs."""
        first = run.stop_reason
        if first.done():  # stopped before it could start: the handler is not called
            return _stopped(first.result())
        me = run.own
        assert me is not None
        self._deadlines.add(run, run.deadline - self._clock.now())
        run.inline = me
        outcome: tuple[str, Any]
        try:
            outcome = ("ok", await fn(run.ctx, task))
        except asyncio.CancelledError as exc:
            if not first.done():
                if me.cancelling():
                    raise  # this task was cancelled from outside (the loop is going away)
                outcome = ("error", exc)  # the handler's own CancelledError, as Go's canceled context
        except Exception as exc:
            outcome = ("error", exc)
        finally:
            run.inline = None
            self._deadlines.remove(run)
        if first.done():  # a stop won, even if the handler swallowed its CancelledError
            if me.cancelling():
                me.uncancel()
            return _stopped(first.result())
        first.set_result("finished")
        return outcome

    def _is_async(self, fn: HandlerFunc) -> bool:
        try:
            return self._async_handlers[fn]
        except KeyError:
            found = self._async_handlers[fn] = is_async_handler(fn)
            return found
        except TypeError:  # an unhashable callable object
            return is_async_handler(fn)

    def _finish(self, run: Running, task: Task, outcome: tuple[str, Any]) -> tuple[Script | Command, ...]:
        """Observe the outcome and return the calls that write it (none for a lost lease)."""
        kind, value = outcome
        msg = run.msg
        if kind == "lost":
            self._log.warning(
                "task %s lost its lease; not writing its outcome (it will be recovered)",
                msg.id,
                extra=log_fields(msg),
            )
            self._observe(run, "lost")
            return ()
        if kind == "abort":
            self._observe(run, "requeued")
            return (rdb.requeue_call(msg),)
        now = self._clock.now()
        if kind == "ok":
            self._observe(run, "succeeded")
            calls: list[Script | Command] = []
            if msg.retention > 0:
                if value is not None:
                    calls.append(rdb.write_result_call(msg.queue, msg.id, _result_bytes(value)))
                msg.completed_at = int(now)
                calls.append(rdb.mark_complete_call(msg, now=now))
            else:
                calls.append(rdb.done_call(msg, now=now))
            return tuple(calls)
        return (self._finish_error(run, task, value, now),)

    def _finish_error(self, run: Running, task: Task, exc: BaseException, now: float) -> Script:
        msg = run.msg
        if isinstance(exc, RateLimited):
            # A downstream said "slow down": not a failure, so no retry used and no error handler.
            self._observe(run, "throttled")
            return rdb.retry_call(
                msg, now=now, retry_at=now + exc.retry_after, is_failure=False, throttled=True
            )
        if not isinstance(exc, TimeoutError | asyncio.CancelledError | RevokeTask | SkipRetry):
            self._log.error(
                "task %s (%s) failed: %s",
                msg.id,
                msg.type,
                "".join(traceback.format_exception(exc)).rstrip(),
                extra=log_fields(msg),
            )
        if self._config.error_handler is not None:
            try:
                self._config.error_handler(task, exc)
            except Exception:
                self._log.exception("the error handler failed", extra=log_fields(msg))
        if isinstance(exc, RevokeTask):
            self._observe(run, "revoked")
            return rdb.done_call(msg, now=now)
        msg.error_msg = error_message(exc)
        msg.last_failed_at = int(now)
        if isinstance(exc, SkipRetry) or msg.retried >= msg.retry:
            self._observe(run, "archived")
            return rdb.archive_call(msg, now=now)
        self._observe(run, "retried")
        retried_before = msg.retried
        is_failure = self._config.is_failure(exc)
        if is_failure:
            msg.retried += 1
        delay = self._config.retry_delay_func(retried_before, exc, task)
        return rdb.retry_call(msg, now=now, retry_at=now + delay, is_failure=is_failure)

    def _observe(self, run: Running, outcome: Outcome) -> None:
        if self._observer is not None:
            self._observer.finished(run.msg.queue, run.msg.type, outcome, self._clock.now() - run.started)

    def _write(self, run: Running, calls: tuple[Script | Command, ...], *, retried: bool) -> None:
        """Write an outcome while the lease is valid, with the other outcomes of this loop step;
        ``_written`` takes the replies."""
        if run.lost and retried:
            # The heartbeat found the lease gone after a try whose reply was lost: that try most
            # likely applied the outcome (which removes the lease).
            self._log.info("outcome of task %s: lease gone after an unconfirmed write", run.msg.id)
            self._end(run)
            return
        if run.lease_expiry <= self._clock.now() or run.lost:
            self._log.warning(
                "lease of task %s expired; leaving it to the recoverer", run.msg.id, extra=log_fields(run.msg)
            )
            self._end(run)
            return
        # The run's slot frees once this is written, unless a thread still runs its handler.
        frees = not retried and (run.handler is None or run.handler.done())
        self._acker.submit(calls, frees, lambda replies: self._written(run, calls, replies, retried))

    def _written(
        self, run: Running, calls: tuple[Script | Command, ...], replies: list[Any], retried: bool
    ) -> None:
        """Take the replies to an outcome's calls: end the run, or send again the calls that failed
        with an error worth retrying (on a cluster the others may already have applied on their
        nodes). A call sent again after a failure whose effect is unknown may find its work done
        ("NOT FOUND"): that is the earlier try, not a loss."""
        again = tuple(c for c, r in zip(calls, replies, strict=True) if isinstance(r, RedisUnavailableError))
        for reply in replies:
            if not isinstance(reply, Exception) or isinstance(reply, RedisUnavailableError):
                continue
            if retried and "NOT FOUND" in str(reply):
                self._log.info("outcome of task %s was already written by an earlier try", run.msg.id)
            else:
                self._log.warning(
                    "outcome of task %s not written: %s", run.msg.id, reply, extra=log_fields(run.msg)
                )
        if not again:
            self._end(run)
            return
        first = next(r for r in replies if isinstance(r, RedisUnavailableError))
        self._limited.log(logging.ERROR, "write", "cannot write a task outcome, will retry: %s", first)
        if self._observer is not None:
            self._observer.redis_error(type(first).__name__)
        self._spawn(self._write_again(run, again))

    async def _write_again(self, run: Running, calls: tuple[Script | Command, ...]) -> None:
        await asyncio.sleep(min(self._config.syncer_interval_s, 1.0))
        self._write(run, calls, retried=True)

    def _write_result(self, ctx: TaskContext, data: bytes) -> None:
        # Found through the registry rather than held by the context: a context that referred to
        # its run would make every run a reference cycle, left to the garbage collector.
        run = self._registry.get(ctx.task_id)
        if run is None or run.ctx is not ctx or run.done or ctx.cancelled.is_set():
            raise TaskStateError("cannot write a result after the task's run ended", task_id=ctx.task_id)
        self._sync_broker.execute(rdb.write_result_call(run.msg.queue, run.msg.id, bytes(data)))

    async def _drop_missing(self, item: rdb.Dequeued) -> None:
        self._log.warning("task %s in queue %s has no data; dropping its id", item.task_id, item.queue)
        try:
            await self._broker.run(rdb.drop_active(item.queue, item.task_id))
        except AsynqError as exc:
            self._log.warning("could not drop task %s: %s", item.task_id, exc)

    async def _archive_poison(self, item: rdb.Dequeued, exc: DecodeError) -> None:
        self._log.error(
            "task %s in queue %s cannot be decoded; archiving it: %s", item.task_id, item.queue, exc
        )
        now = self._clock.now()
        stub = TaskMessage(type="", id=item.task_id, queue=item.queue)
        try:
            await self._broker.execute(rdb.archive_call(stub, now=now, raw=item.data))
        except AsynqError as err:
            self._log.warning("could not archive task %s: %s", item.task_id, err)

    async def drain(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for running tasks, then stop and requeue the rest."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            for run in self._registry.snapshot():
                if not run.done:
                    run.stop("abort")
        # Until none is left: a dequeue that lands now spawns the requeue of what it brought.
        until = self._loop.time() + max(5.0, self._config.syncer_interval_s)
        while self._runs and (left := until - self._loop.time()) > 0:
            await asyncio.wait(set(self._runs), timeout=left)
        self._threads.shutdown()


WAKE_RUNNER = "asynq-py wake-up runner"
"""The name of the task that waits on the wake lists and runs the first task the wait brings."""


def log_fields(msg: TaskMessage) -> dict[str, Any]:
    """Return the task's fields for a log record's ``extra`` (structured log formatters read them)."""
    return {"queue": msg.queue, "task_id": msg.id, "task_type": msg.type, "retry": msg.retried}


def _idle_s(interval: float) -> float:
    """An idle poll (Go's): half the check interval plus a random share of it."""
    return interval / 2 + random.random() * interval


def _stopped(reason: str) -> tuple[str, Any]:
    """The outcome of a run stopped for ``reason`` before its handler finished."""
    if reason == "deadline":
        return ("error", TimeoutError())
    if reason == "cancel":
        return ("error", asyncio.CancelledError())
    return (reason, None)


def _resumed(plan: Plan[T], call: Call) -> Plan[T]:
    """The rest of a started ``plan`` whose next call is ``call``, as a plan of its own."""
    while True:
        try:
            reply = yield call
        except AsynqError as exc:
            reply = exc
        try:
            call = plan.throw(reply) if isinstance(reply, AsynqError) else plan.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def _settle(fut: asyncio.Future[str], reason: str) -> None:
    if not fut.done():
        fut.set_result(reason)


def _consume_exception(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _result_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def _compute_deadline(msg: TaskMessage, now: float) -> float:
    """Go's computeDeadline: the earlier of now + timeout and the deadline; 30 min if neither."""
    if msg.timeout == 0 and msg.deadline == 0:
        return now + DEFAULT_TIMEOUT_S
    if msg.timeout != 0 and msg.deadline != 0:
        return float(min(now + msg.timeout, msg.deadline))
    if msg.timeout != 0:
        return now + msg.timeout
    return float(msg.deadline)
