"""Where one enqueue's own Python time goes, step by step, without Redis.

    .venv/bin/python benchmarks/enqueue_profile.py [--calls N]

Each step of ``Client.enqueue`` is timed alone in a loop of N calls, in CPU time (best of 7, so
other processes on a shared machine count for little): name validation, option parsing and
merging, task id generation, the message, protobuf encoding, key formatting and the script call,
the wire arguments, reply handling (the ``TaskInfo``), and then the whole plan end to end (every
step plus the plan's own plumbing, with the Redis reply faked).

Then the multi-task path, per task in a batch of 64 (what coalesced ``AsyncClient.enqueue``
callers make) and of 1,000 (an ``enqueue_many`` call): each task's message (``new_task``), the
script calls, their wire arguments, reply handling, and the whole plan with the replies faked.
``benchmarks/engine.py`` measures the same enqueues against a real server.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from asynq_py.engine import Task, rdb
from asynq_py.engine.broker import _wire_args
from asynq_py.engine.calls import Batch, Plan, Script
from asynq_py.engine.client import _ClientCore, new_task_id
from asynq_py.engine.clock import RealClock
from asynq_py.engine.options import merge_options, parse_options, validate_task_type
from asynq_py.engine.wire import encode_task_message

T = TypeVar("T")


def cpu_us(fn: Callable[[], object], calls: int) -> float:
    """Best of 7 loops of ``calls`` calls, in CPU µs per call."""
    best = float("inf")
    for _ in range(7):
        t0 = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, time.process_time() - t0)
    return best / calls * 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calls", type=int, default=20_000)
    args = p.parse_args()
    core = _ClientCore(RealClock(), 32 * 1024 * 1024, None)
    core.registered_queues.add("default")
    task = Task("email:deliver", {"user_id": 42})
    now = time.time()
    new = core.new_task(task, {})
    msg = new[0]
    opts = task.options
    call = rdb.enqueue_call(new)

    def whole_plan() -> object:
        plan = core.enqueue_plan(task, {})
        _wire_args(next(plan))
        try:
            plan.send(1)
        except StopIteration as stop:
            return stop.value
        raise AssertionError("the enqueue plan made a second call")

    def script_call() -> object:
        return rdb.enqueue_call(new)

    def reply() -> object:
        return core._info(msg, rdb.enqueue_result(msg, 1, now=now, process_at=now), now, now)

    steps: list[tuple[str, Callable[[], object]]] = [
        ("validate the task type", lambda: validate_task_type(task.type)),
        ("parse options (none given)", lambda: parse_options({})),
        ("merge options (defaults, task, call)", lambda: merge_options(merge_options(opts, opts), opts)),
        ("task id (UUID v4)", new_task_id),
        ("the message and its encoding (new_task)", lambda: core.new_task(task, {})),
        ("protobuf encoding of a whole message", lambda: encode_task_message(msg)),
        ("keys and the script call", script_call),
        ("wire arguments (EVALSHA, sha, keys, args)", lambda: _wire_args(call)),
        ("reply handling (state, TaskInfo)", reply),
        ("the whole plan, Redis reply faked", whole_plan),
    ]
    width = max(len(name) for name, _ in steps)
    version = sys.version.split()[0]
    print(f"one Client.enqueue, CPU µs per call (best of 7 x {args.calls:,}), Python {version}")
    for name, fn in steps:
        print(f"  {name:<{width}}  {cpu_us(fn, args.calls):6.2f}")
    for size in (64, 1000):
        batch = batch_steps(core, task, size)
        calls = max(1, args.calls // size)
        print(f"per task in a batch of {size:,}, CPU µs per task (best of 7 x {calls * size:,} tasks)")
        for name, fn in batch:
            print(f"  {name:<{width}}  {cpu_us(fn, calls) / size:6.2f}")
    return 0


def _faked_replies(batch: Batch) -> list[object]:
    """What Redis answers a multi-task batch when every task is stored."""
    return [[1] * ((len(c.args) - 1) // 6) if isinstance(c, Script) else 1 for c in batch.calls]


def _finish(plan: Plan[T], replies: list[object]) -> T:
    try:
        plan.send(replies)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    raise AssertionError("the plan made a second call")


def batch_steps(core: _ClientCore, task: Task, size: int) -> list[tuple[str, Callable[[], object]]]:
    """The steps of storing ``size`` tasks of one queue with one multi-task plan."""
    tasks = [task] * size
    new = [core.new_task(task, {}) for _ in range(size)]
    first = core.store_plan(new)
    sent = next(first)
    assert isinstance(sent, Batch)
    replies = _faked_replies(sent)
    _finish(first, replies)
    chunk = rdb.ENQUEUE_MANY_CHUNK

    def coalesced() -> object:
        plan = core.store_plan([core.new_task(task, {}) for _ in range(size)])
        batch = next(plan)
        assert isinstance(batch, Batch)
        [_wire_args(c) for c in batch.calls]
        return _finish(plan, replies)

    def enqueue_many() -> object:
        plan = core.enqueue_many_plan([Task("email:deliver", {"user_id": 42}) for _ in range(size)], {})
        batch = next(plan)
        assert isinstance(batch, Batch)
        [_wire_args(c) for c in batch.calls]
        return _finish(plan, replies)

    def store() -> object:
        plan = core.store_plan(new)
        next(plan)
        return _finish(plan, replies)

    return [
        ("each task's message (new_task)", lambda: [core.new_task(t, {}) for t in tasks]),
        ("Task(...) made by the caller", lambda: [Task("email:deliver", {"user_id": 42}) for _ in tasks]),
        (
            "the script calls (keys, arguments)",
            lambda: [rdb.enqueue_many_call("default", new[i : i + chunk]) for i in range(0, size, chunk)],
        ),
        ("wire arguments", lambda: [_wire_args(c) for c in sent.calls]),
        ("store_plan: calls and replies (TaskInfo)", store),
        ("coalesced: new_task, store_plan, wire args", coalesced),
        ("enqueue_many: Task(...), plan, wire args", enqueue_many),
    ]


if __name__ == "__main__":
    sys.exit(main())
