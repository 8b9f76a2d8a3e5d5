"""Where one enqueue's own Python time goes, step by step, without Redis.

    .venv/bin/python benchmarks/enqueue_profile.py [--calls N]

Each step of ``Client.enqueue`` is timed alone in a loop of N calls, in CPU time (best of 7, so
other processes on a shared machine count for little): name validation, option parsing and
merging, task id generation, the message, protobuf encoding, key formatting and the script call,
the wire arguments, reply handling (the ``TaskInfo``), and then the whole plan end to end (every
step plus the plan's own plumbing, with the Redis reply faked). ``benchmarks/engine.py`` measures
the same enqueue against a real server.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from asynq_py.engine import Task, rdb
from asynq_py.engine.broker import _wire_args
from asynq_py.engine.client import _ClientCore, new_task_id
from asynq_py.engine.clock import RealClock
from asynq_py.engine.options import merge_options, parse_options, validate_task_type
from asynq_py.engine.wire import encode_task_message


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
    msg, opts, _ = core.message(task, {}, now)
    call = rdb.enqueue_call(msg, now=now, process_at=now, unique_ttl_s=None)

    def whole_plan() -> object:
        plan = core.enqueue_plan(task, {})
        _wire_args(next(plan))
        try:
            plan.send(1)
        except StopIteration as stop:
            return stop.value
        raise AssertionError("the enqueue plan made a second call")

    def script_call() -> object:
        return rdb.enqueue_call(msg, now=now, process_at=now, unique_ttl_s=None)

    def reply() -> object:
        return core._info(msg, rdb.enqueue_result(msg, 1, now=now, process_at=now), now, now)

    steps: list[tuple[str, Callable[[], object]]] = [
        ("validate the task type", lambda: validate_task_type(task.type)),
        ("parse options (none given)", lambda: parse_options({})),
        ("merge options (defaults, task, call)", lambda: merge_options(merge_options(opts, opts), opts)),
        ("task id (UUID v4)", new_task_id),
        ("build the message (all of the above)", lambda: core.message(task, {}, now)),
        ("protobuf encoding", lambda: encode_task_message(msg)),
        ("keys and the script call (encoding included)", script_call),
        ("wire arguments (EVALSHA, sha, keys, args)", lambda: _wire_args(call)),
        ("reply handling (state, TaskInfo)", reply),
        ("the whole plan, Redis reply faked", whole_plan),
    ]
    width = max(len(name) for name, _ in steps)
    version = sys.version.split()[0]
    print(f"one Client.enqueue, CPU µs per call (best of 7 x {args.calls:,}), Python {version}")
    for name, fn in steps:
        print(f"  {name:<{width}}  {cpu_us(fn, args.calls):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
