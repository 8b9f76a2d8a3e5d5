"""R19: a Hypothesis state machine drives the engine's lifecycle plans against an in-memory model.

Every rule runs the real plans (``engine/rdb.py``, ``engine/rdb_inspect.py`` through ``Inspector``)
on a ``Broker``; the model says what Redis must hold afterwards, and the invariants compare the two
after every step. Time is a ``SimulatedClock`` that moves in whole seconds.

Runs on fakeredis (a fresh ``FakeServer`` per example) and on the session's real server (FLUSHDB
per example, fewer examples). ``ASYNQ_STATE_EXAMPLES=<n>`` raises the example count (R19's full
run is 300 examples of 50 steps: ``ASYNQ_STATE_EXAMPLES=300 ASYNQ_STATE_STEPS=50``).

Model of one worker process per held task: ``dequeue`` hands the task to a live worker; ``complete``,
``fail`` and ``requeue`` are that worker's outcome; ``crash`` forgets the worker (its lease stays in
Redis); ``heartbeat`` extends the live workers' leases. A worker whose lease has run out is "lost"
and writes nothing (processor.py, docs/wire.md §5.2 step 8); the recoverer then deals with it.

Unique locks. The model tracks every lock key and its owner exactly. Redis TTLs run on real time
(an hour here), so none expires during a run. "No lock without a live task" holds except for these
documented Go v0.26.0 quirks, which the model flags when they happen:

* ``conflict``: a unique enqueue with a task ID that already exists takes the lock and then fails
  with ``TaskIdConflictError`` without releasing it (docs/wire.md §4.1.2 step 2); the lock's owner is
  the existing task, which may later go away without releasing a lock it never knew about.
* ``group-delete``: ``addToGroupUnique`` does not store ``unique_key`` in the hash (docs/wire.md §4.1.6), so
  ``Inspector.delete_task`` on such a task (while it is aggregating, or after it was run/retried and
  came back, or archived) cannot release its lock (docs/wire.md §4.3.1, delete).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import fakeredis
import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from asynq_py.engine import (
    DuplicateTaskError,
    Inspector,
    QueueNotFoundError,
    SimulatedClock,
    TaskIdConflictError,
    TaskNotFoundError,
    TaskStateError,
    keys,
    rdb,
)
from asynq_py.engine.broker import Broker
from asynq_py.engine.wire import TaskMessage, decode_task_message, encode_task_message

QUEUES = ("default", "critical")
GROUPS = ("g1", "g2")
PAYLOADS = (b"", b"a", b"b")
UNIQUE_TTL_S = 3600
# Near the real time: Redis expires the daily counters (EXPIREAT now + 90 d) and the unique locks
# (EX) on its own clock, so a simulated clock far in the past would make them vanish at once.
START = int(time.time()) // 3600 * 3600
CUTOFF_S = 30  # the recoverer's clock-skew allowance (docs/wire.md §5.1)
ZSET_STATES = ("scheduled", "retry", "archived", "completed")

EXAMPLES = int(os.environ.get("ASYNQ_STATE_EXAMPLES", "100"))
STEPS = int(os.environ.get("ASYNQ_STATE_STEPS", "30"))
REAL_EXAMPLES = int(os.environ.get("ASYNQ_STATE_EXAMPLES", "20"))


def retry_delay(n: int) -> int:
    """The default RetryDelayFunc with its random term fixed at 0: n⁴ + 15 seconds."""
    return n**4 + 15


@dataclass
class Lock:
    owner: str
    orphan_ok: str = ""  # "", "conflict" or "group-delete": why it may outlive its owner


@dataclass
class ModelTask:
    id: str
    queue: str
    type: str
    payload: bytes
    state: str  # pending active scheduled retry archived completed aggregating gone
    retry: int
    retention: int
    unique_key: str = ""  # msg.unique_key
    unique_in_hash: bool = False  # the hash's unique_key field is set
    group_key: str = ""  # msg.group_key
    group_field: str = ""  # the hash's group field
    retried: int = 0
    score: int | None = None  # zset score (scheduled, retry, archived, completed, aggregating)
    lease: int | None = None  # lease expiry while active


def _d(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def make_machine(connect: Callable[[], redis.Redis]) -> type[RuleBasedStateMachine]:
    """Build the state machine class; ``connect`` returns a client to an empty database."""

    class LifecycleMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.r = connect()
            self.broker = Broker(self.r)
            self.clock = SimulatedClock(float(START))
            self.inspector = Inspector(self.r, clock=self.clock)
            self.tasks: dict[str, ModelTask] = {}
            self.pending: dict[str, list[str]] = {q: [] for q in QUEUES}  # index 0 = list head (LPUSH)
            self.active: dict[str, list[str]] = {q: [] for q in QUEUES}
            self.held: dict[str, TaskMessage] = {}  # task id -> message of a live worker
            self.paused: set[str] = set()
            self.seen: set[str] = set()
            self.locks: dict[str, Lock] = {}
            self.processed_total: dict[str, int] = dict.fromkeys(QUEUES, 0)
            self.failed_total: dict[str, int] = dict.fromkeys(QUEUES, 0)
            self.daily: dict[tuple[str, str, str], int] = {}

        def teardown(self) -> None:
            self.r.close()

        # helpers

        @property
        def now(self) -> int:
            return int(self.clock.now())

        def _alive(self) -> list[ModelTask]:
            return [t for t in self.tasks.values() if t.state != "gone"]

        def _count(self, q: str, processed: int, failed: int) -> None:
            day = datetime.fromtimestamp(self.now, UTC).strftime("%Y-%m-%d")
            self.processed_total[q] += processed
            self.failed_total[q] += failed
            self.daily[(q, day, "processed")] = self.daily.get((q, day, "processed"), 0) + processed
            self.daily[(q, day, "failed")] = self.daily.get((q, day, "failed"), 0) + failed

        def _leave_active(self, t: ModelTask) -> None:
            self.active[t.queue].remove(t.id)
            t.lease = None
            self.held.pop(t.id, None)

        def _release(self, key: str, task_id: str) -> None:
            lock = self.locks.get(key)
            if key and lock is not None and lock.owner == task_id:
                del self.locks[key]

        def _gone(self, t: ModelTask) -> None:
            t.state = "gone"
            t.score = None

        def _drop_lost_workers(self) -> None:
            for task_id in list(self.held):
                t = self.tasks[task_id]
                if t.state != "active" or t.lease is None or t.lease <= self.now:
                    del self.held[task_id]

        def _held_id(self, index: int) -> str | None:
            """Pick a live worker's task; None (and the worker is dropped) if its lease ran out."""
            ids = sorted(self.held)
            task_id = ids[index % len(ids)]
            t = self.tasks[task_id]
            if t.lease is None or t.lease <= self.now:
                del self.held[task_id]  # lost: the processor writes nothing (docs/wire.md §5.2 step 8)
                return None
            return task_id

        def _pick(self, index: int) -> ModelTask:
            ids = sorted(self.tasks)
            return self.tasks[ids[index % len(ids)]]

        # rules: the client

        @initialize(
            seeds=st.lists(
                st.tuples(
                    st.sampled_from(QUEUES), st.booleans(), st.integers(0, 2), st.sampled_from((0, 60))
                ),
                max_size=6,
            )
        )
        def start(self, seeds) -> None:
            """Start on an empty database with a few runnable tasks (queue, unique, retries, retention)."""
            assert self.r.dbsize() == 0
            for queue, unique, max_retry, retention in seeds:
                self._enqueue(self._new_id(), queue, "now", unique, b"s", max_retry, retention, 1, GROUPS[0])

        def _new_id(self) -> str:
            return str(uuid.UUID(int=len(self.tasks) + 1))  # deterministic, so that examples replay

        @rule(
            queue=st.sampled_from(QUEUES),
            kind=st.sampled_from(("now", "now", "in", "group", "group_in")),
            unique=st.booleans(),
            payload=st.sampled_from(PAYLOADS),
            max_retry=st.integers(0, 3),
            retention=st.sampled_from((0, 0, 60, 3600)),
            delay=st.integers(1, 120),
            group=st.sampled_from(GROUPS),
            reuse=st.none() | st.integers(0, 1000),
        )
        def enqueue(self, queue, kind, unique, payload, max_retry, retention, delay, group, reuse) -> None:
            """A client enqueue; ``reuse`` picks a known task's ID (and queue): a conflict while that
            task exists, a new task once it is gone."""
            task_id = self._new_id()
            if reuse is not None and self.tasks:
                old = self._pick(reuse)
                task_id, queue = old.id, old.queue
            self._enqueue(task_id, queue, kind, unique, payload, max_retry, retention, delay, group)

        def _enqueue(self, task_id, queue, kind, unique, payload, max_retry, retention, delay, group) -> None:
            now = self.now
            task_type = "unique" if unique else "plain"
            unique_key = keys.unique_key(queue, task_type, hashlib.md5(payload).hexdigest()) if unique else ""
            group_key = group if kind.startswith("group") else ""
            process_at = now + delay if kind in ("in", "group_in") else now
            msg = TaskMessage(
                type=task_type,
                payload=payload,
                id=task_id,
                queue=queue,
                retry=max_retry,
                timeout=1800,
                unique_key=unique_key,
                group_key=group_key,
                retention=retention,
            )
            plan = rdb.enqueue(
                (
                    msg,
                    encode_task_message(msg),
                    float(now),
                    float(process_at),
                    UNIQUE_TTL_S if unique else None,
                ),
                register_queue=queue not in self.seen,
            )
            self.seen.add(queue)  # the SADD is in the same pipeline, whatever the script answers
            existing = self.tasks.get(task_id)
            if unique and unique_key in self.locks:
                with pytest.raises(DuplicateTaskError):
                    self.broker.run(plan)
                return
            if existing is not None and existing.state != "gone":
                with pytest.raises(TaskIdConflictError):
                    self.broker.run(plan)
                if unique:  # Go quirk: the lock just taken is kept (docs/wire.md §4.1.2)
                    self.locks[unique_key] = Lock(task_id, orphan_ok="conflict")
                return
            state = self.broker.run(plan)
            t = ModelTask(task_id, queue, task_type, payload, "", max_retry, retention, unique_key=unique_key)
            t.group_key = group_key
            if process_at > now:
                t.state, t.score, t.unique_in_hash = "scheduled", process_at, unique
            elif group_key:
                t.state, t.score, t.group_field = "aggregating", now, group_key
            else:
                t.state, t.unique_in_hash = "pending", unique
                self.pending[queue].insert(0, task_id)
            assert state == t.state
            self.tasks[task_id] = t
            if unique:
                self.locks[unique_key] = Lock(task_id)

        # rules: a server's processor

        @rule(order=st.permutations(QUEUES), count=st.integers(1, 3))
        def dequeue(self, order, count) -> None:
            """The processor's fetch: try the queues in ``order``, take up to ``count`` from the first."""
            got = self.broker.run(rdb.dequeue(order, now=float(self.now), count=count)).tasks
            expected: list[str] = []
            queue = next((q for q in order if q not in self.paused and self.pending[q]), None)
            while queue is not None and self.pending[queue] and len(expected) < count:
                expected.append(self.pending[queue].pop())
            assert [d.task_id for d in got] == expected
            for d in got:
                t = self.tasks[d.task_id]
                msg = decode_task_message(d.data)
                assert d.queue == queue
                assert (msg.id, msg.queue, msg.retried, msg.retry) == (t.id, queue, t.retried, t.retry)
                assert d.lease_expiry == self.now + rdb.LEASE_DURATION_S
                t.state, t.lease = "active", d.lease_expiry
                self.active[t.queue].insert(0, t.id)
                self.held[t.id] = msg

        @precondition(lambda self: bool(self.held))
        @rule(index=st.integers(0, 1000))
        def complete(self, index) -> None:
            task_id = self._held_id(index)
            if task_id is None:
                return
            t, msg = self.tasks[task_id], self.held[task_id]
            now = self.now
            if msg.retention > 0:
                msg.completed_at = now
                self.broker.run(rdb.mark_complete(msg, now=float(now)))
                self._leave_active(t)
                t.state, t.score = "completed", now + msg.retention
            else:
                self.broker.run(rdb.done(msg, now=float(now)))
                self._leave_active(t)
                self._gone(t)
            self._count(t.queue, 1, 0)
            self._release(msg.unique_key, task_id)

        @precondition(lambda self: bool(self.held))
        @rule(index=st.integers(0, 1000), is_failure=st.booleans(), skip_retry=st.booleans())
        def fail(self, index, is_failure, skip_retry) -> None:
            """The handler failed; mirror processor.py's outcome rules (archive or retry)."""
            task_id = self._held_id(index)
            if task_id is None:
                return
            t, msg = self.tasks[task_id], self.held[task_id]
            now = self.now
            msg.error_msg = "boom"
            msg.last_failed_at = now
            if skip_retry or msg.retried >= msg.retry:
                self.broker.run(rdb.archive(msg, now=float(now)))
                self._leave_active(t)
                t.state, t.score = "archived", now
                self._count(t.queue, 1, 1)
                return
            before = msg.retried
            if is_failure:
                msg.retried += 1
            retry_at = now + retry_delay(before)
            self.broker.run(rdb.retry(msg, now=float(now), retry_at=float(retry_at), is_failure=is_failure))
            self._leave_active(t)
            t.state, t.score, t.retried = "retry", retry_at, msg.retried
            if is_failure:
                self._count(t.queue, 1, 1)

        @precondition(lambda self: bool(self.held))
        @rule(index=st.integers(0, 1000))
        def requeue(self, index) -> None:
            """Shutdown abort: the task goes back to the tail (next out) of pending, unchanged."""
            task_id = self._held_id(index)
            if task_id is None:
                return
            t = self.tasks[task_id]
            self.broker.run(rdb.requeue(self.held[task_id]))
            self._leave_active(t)
            t.state = "pending"
            self.pending[t.queue].append(task_id)

        @precondition(lambda self: bool(self.held))
        @rule(index=st.integers(0, 1000))
        def crash(self, index) -> None:
            """The worker dies: the model forgets it; its task stays active under its lease."""
            del self.held[sorted(self.held)[index % len(self.held)]]

        def _extend_held_leases(self) -> None:
            leases: dict[str, list[str]] = {q: [] for q in QUEUES}
            for task_id in sorted(self.held):
                leases[self.tasks[task_id].queue].append(task_id)
            expiry = self.broker.run(rdb.extend_leases(leases, now=float(self.now))).expiry
            assert expiry == self.now + rdb.LEASE_DURATION_S
            for task_id in self.held:
                self.tasks[task_id].lease = expiry

        @rule(seconds=st.sampled_from((1, 2, 5, 10, 15, 29, 30, 31, 61, 120, 3600)), stall=st.booleans())
        def advance_clock(self, seconds, stall) -> None:
            """Time passes; live workers heartbeat all along (every 5 s) unless ``stall`` (a zombie)."""
            self._drop_lost_workers()
            self.clock.advance(seconds)
            if not stall:
                self._extend_held_leases()

        # rules: a server's background loops

        @rule()
        def run_recoverer(self) -> None:
            """Mirror recoverer.py: reclaim unleased, list leases expired before now - 30 s, recover."""
            now = self.now
            for q in QUEUES:
                assert self.broker.run(rdb.reclaim_unleased(q, now=float(now))) == 0
            expired = self.broker.run(rdb.list_lease_expired(list(QUEUES), cutoff=float(now - CUTOFF_S)))
            want = sorted(
                (t.queue, t.id) for t in self._alive() if t.state == "active" and t.lease <= now - CUTOFF_S
            )
            assert sorted((q, i) for q, i, _ in expired) == want
            for q, task_id, data in expired:
                t = self.tasks[task_id]
                if task_id in self.held and t.lease > now:
                    continue  # a live worker's: its heartbeat extends it (cannot happen: lease < now)
                self.held.pop(task_id, None)
                msg = decode_task_message(data)
                assert msg.retried == t.retried
                msg.error_msg = "asynq: task lease expired"
                msg.last_failed_at = now
                if msg.retried >= msg.retry:
                    self.broker.run(rdb.archive(msg, now=float(now)))
                    self._leave_active(t)
                    t.state, t.score = "archived", now
                    self._count(q, 1, 1)
                    continue
                retry_at = now + retry_delay(msg.retried)
                msg.retried += 1
                self.broker.run(rdb.retry(msg, now=float(now), retry_at=float(retry_at), is_failure=True))
                self._leave_active(t)
                t.state, t.score, t.retried = "retry", retry_at, msg.retried
                self._count(q, 1, 1)
            for q in QUEUES:
                self.broker.run(rdb.reclaim_aggregation_sets(q, now=float(now)))

        @rule()
        def run_forwarder(self) -> None:
            now = self.now
            for q in QUEUES:
                moved = self.broker.run(rdb.forward_due(q, now=float(now)))
                due = 0
                for state in ("scheduled", "retry"):
                    ready = sorted(
                        (t.score, t.id)
                        for t in self._alive()
                        if t.queue == q and t.state == state and t.score <= now
                    )
                    for _, task_id in ready:
                        t = self.tasks[task_id]
                        if t.group_field:
                            t.state, t.score = "aggregating", now
                        else:
                            t.state, t.score = "pending", None
                            self.pending[q].insert(0, task_id)
                        due += 1
                assert moved == due

        @rule()
        def run_janitor(self) -> None:
            now = self.now
            for q in QUEUES:
                n = self.broker.run(rdb.delete_expired_completed(q, now=float(now), batch=100))
                gone = [
                    t for t in self._alive() if t.queue == q and t.state == "completed" and t.score <= now
                ]
                assert n == len(gone)
                for t in gone:
                    self._gone(t)

        # rules: the Inspector

        @rule(queue=st.sampled_from(QUEUES), redundant=st.booleans())
        def toggle_pause(self, queue, redundant) -> None:
            """Pause a running queue or unpause a paused one; ``redundant`` repeats the current state.

            One rule, not two, so that swarm testing cannot leave a queue paused for a whole example.
            """
            paused = queue in self.paused
            if redundant:
                op = self.inspector.pause_queue if paused else self.inspector.unpause_queue
                with pytest.raises(TaskStateError):
                    op(queue)
            elif paused:
                self.inspector.unpause_queue(queue)
                self.paused.discard(queue)
            else:
                self.inspector.pause_queue(queue)
                self.paused.add(queue)

        def _remove_from_container(self, t: ModelTask) -> None:
            if t.state == "pending":
                self.pending[t.queue].remove(t.id)  # first occurrence from the head, as LREM count 1

        @precondition(lambda self: bool(self.tasks))
        @rule(op=st.sampled_from(("delete", "archive", "run")), index=st.integers(0, 1000))
        def inspector_task_op(self, op, index) -> None:
            """Inspector.delete_task / archive_task / run_task on a known task (maybe gone or active)."""
            t = self._pick(index)
            {
                "delete": self._inspector_delete,
                "archive": self._inspector_archive,
                "run": self._inspector_run,
            }[op](t)

        def _inspector_delete(self, t: ModelTask) -> None:
            if t.state == "gone":
                with pytest.raises(TaskNotFoundError):
                    self.inspector.delete_task(t.queue, t.id)
                return
            if t.state == "active":
                with pytest.raises(TaskStateError):
                    self.inspector.delete_task(t.queue, t.id)
                return
            self.inspector.delete_task(t.queue, t.id)
            self._remove_from_container(t)
            if t.unique_in_hash:
                self._release(t.unique_key, t.id)
            elif t.unique_key in self.locks and self.locks[t.unique_key].owner == t.id:
                self.locks[t.unique_key].orphan_ok = "group-delete"  # no unique_key field to release by
            self._gone(t)

        def _inspector_archive(self, t: ModelTask) -> None:
            if t.state == "gone":
                with pytest.raises(TaskNotFoundError):
                    self.inspector.archive_task(t.queue, t.id)
                return
            if t.state in ("active", "archived"):
                with pytest.raises(TaskStateError):
                    self.inspector.archive_task(t.queue, t.id)
                return
            self.inspector.archive_task(t.queue, t.id)
            self._remove_from_container(t)
            t.state, t.score = "archived", self.now

        def _inspector_run(self, t: ModelTask) -> None:
            if t.state == "gone":
                with pytest.raises(TaskNotFoundError):
                    self.inspector.run_task(t.queue, t.id)
                return
            if t.state in ("active", "pending"):
                with pytest.raises(TaskStateError):
                    self.inspector.run_task(t.queue, t.id)
                return
            self.inspector.run_task(t.queue, t.id)
            t.state, t.score = "pending", None
            self.pending[t.queue].insert(0, t.id)

        # invariants

        @invariant()
        def redis_matches_model(self) -> None:
            r = self.r
            all_keys = {_d(k) for k in r.keys("*")}
            alive = {t.id: t for t in self._alive()}
            # the queues set
            assert {_d(q) for q in r.smembers(keys.ALL_QUEUES)} == self.seen
            # task hashes: exactly the live tasks, each with the model's fields
            hash_keys = {k for k in all_keys if ":t:" in k}
            assert hash_keys == {keys.task_key(t.queue, t.id) for t in alive.values()}
            for t in alive.values():
                h = {_d(k): v for k, v in r.hgetall(keys.task_key(t.queue, t.id)).items()}
                assert _d(h["state"]) == t.state, t
                assert _d(h.get("group", b"")) == t.group_field, t
                assert _d(h.get("unique_key", b"")) == (t.unique_key if t.unique_in_hash else ""), t
                msg = decode_task_message(h["msg"])
                assert (msg.id, msg.queue, msg.retried, msg.unique_key) == (
                    t.id,
                    t.queue,
                    t.retried,
                    t.unique_key,
                )
            # containers: each live id in exactly one, which agrees with its hash's state and the model
            where: dict[str, list[str]] = {}
            for q in QUEUES:
                pending = [_d(i) for i in r.lrange(keys.pending_key(q), 0, -1)]
                active = [_d(i) for i in r.lrange(keys.active_key(q), 0, -1)]
                assert pending == self.pending[q]
                assert active == self.active[q]
                for i in pending:
                    where.setdefault(i, []).append("pending")
                for i in active:
                    where.setdefault(i, []).append("active")
                for state in ZSET_STATES:
                    zset = {
                        _d(m): int(s) for m, s in r.zrange(f"asynq:{{{q}}}:{state}", 0, -1, withscores=True)
                    }
                    assert zset == {
                        t.id: t.score for t in alive.values() if t.queue == q and t.state == state
                    }
                    for i in zset:
                        where.setdefault(i, []).append(state)
                groups: dict[str, dict[str, int | None]] = {}
                for t in alive.values():
                    if t.queue == q and t.state == "aggregating":
                        groups.setdefault(t.group_field, {})[t.id] = t.score
                prefix = keys.group_key_prefix(q)
                found = {k[len(prefix) :] for k in all_keys if k.startswith(prefix)}
                assert found == set(groups)
                for g, members in groups.items():
                    zset = {_d(m): int(s) for m, s in r.zrange(prefix + g, 0, -1, withscores=True)}
                    assert zset == members
                    for i in zset:
                        where.setdefault(i, []).append("aggregating")
                assert {_d(g) for g in r.smembers(keys.groups_key(q))} == set(groups)
                lease = {_d(m): int(s) for m, s in r.zrange(keys.lease_key(q), 0, -1, withscores=True)}
                assert set(lease) <= set(active)
                assert lease == {i: self.tasks[i].lease for i in self.active[q]}
                assert (r.exists(keys.paused_key(q)) == 1) == (q in self.paused)
            assert set(where) == set(alive)
            for task_id, places in where.items():
                assert places == [alive[task_id].state], (task_id, places)
            # unique locks: exactly the model's, and none outlives its owner except by a Go quirk
            lock_keys = {k for k in all_keys if ":unique:" in k}
            assert lock_keys == set(self.locks)
            for key, lock in self.locks.items():
                assert _d(r.get(key)) == lock.owner
                assert r.ttl(key) > 0
                assert lock.owner in alive or lock.orphan_ok in ("conflict", "group-delete"), (key, lock)
            # the inspector's counts
            for q in QUEUES:
                if q not in self.seen:
                    with pytest.raises(QueueNotFoundError):
                        self.inspector.get_queue_info(q)
                    continue
                info = self.inspector.get_queue_info(q)
                counts = {s: 0 for s in ("pending", "active", *ZSET_STATES, "aggregating")}
                for t in alive.values():
                    if t.queue == q:
                        counts[t.state] += 1
                got = {s: getattr(info, s) for s in counts}
                assert got == counts
                assert info.size == sum(counts.values())
                assert info.groups == len(
                    {t.group_field for t in alive.values() if t.queue == q and t.state == "aggregating"}
                )
                assert info.paused == (q in self.paused)
                day = datetime.fromtimestamp(self.now, UTC).strftime("%Y-%m-%d")
                assert info.processed == self.daily.get((q, day, "processed"), 0)
                assert info.failed == self.daily.get((q, day, "failed"), 0)
                assert (info.processed_total, info.failed_total) == (
                    self.processed_total[q],
                    self.failed_total[q],
                )

    return LifecycleMachine


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def _timeout(examples: int, per_example_s: float) -> int:
    """A bound for pytest-timeout: the run, plus room for Hypothesis to shrink a failure (minutes).

    If the timeout fired mid-shrink, Hypothesis would report a confusing FlakyFailure instead of
    the minimal failing steps.
    """
    return int(examples * STEPS / 30 * per_example_s) + 900


@pytest.mark.timeout(_timeout(EXAMPLES, 1.0))
def test_lifecycle_state_machine_fakeredis() -> None:
    def connect() -> redis.Redis:
        return fakeredis.FakeRedis(server=fakeredis.FakeServer())

    run_state_machine_as_test(make_machine(connect), settings=_settings(EXAMPLES))


@pytest.mark.real
@pytest.mark.timeout(_timeout(REAL_EXAMPLES, 2.0))
def test_lifecycle_state_machine_real(real_redis_url: str) -> None:
    def connect() -> redis.Redis:
        client = redis.Redis.from_url(real_redis_url, socket_timeout=5)
        client.flushdb()
        return client

    run_state_machine_as_test(make_machine(connect), settings=_settings(REAL_EXAMPLES))
