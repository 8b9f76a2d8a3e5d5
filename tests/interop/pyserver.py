"""asynq-py's counterpart of go/cmd/goserver: an asynq-py ``Server`` with the same test handlers,
flags and ledger, run as a subprocess by the interop tests (so that it can be killed mid-task).

    python pyserver.py -redis URL [-queues q=1,r=2] [-concurrency 4] [-ledger PATH]
                       [-shutdown-timeout 2] [-group-grace 1] [-delayed-check 1]
                       [-task-check 0.1] [-retry-delay 0]

Durations are seconds. Handlers, by exact task type: ok, fail ("boom"), skip (SkipRetry,
"boom: skip retry for the task"), revoke (RevokeTask), sleep (payload = milliseconds; stops
when cancelled), result (writes the payload as the result), panic (raises RuntimeError("boom")),
aggregated. Unlike goserver, any other type fails with "handler not found" (a ServeMux has no
catch-all pattern). The group aggregator joins payloads with ",". Each handler call appends a
"start" and an "end" line to the ledger, in goserver's format.

Stdout: {"event": "started", "pid": N, "server_id": ID} once running, {"event": "stopped"} after
SIGTERM/SIGINT and a graceful shutdown.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import sys
import threading
import time
from typing import Any

from asynq_py.engine import RevokeTask, ServeMux, Server, ServerConfig, SkipRetry, Task
from asynq_py.engine.context import TaskContext


class Ledger:
    """Appends one JSON object per line and fsyncs it, like goserver's ledger."""

    def __init__(self, path: str | None) -> None:
        self._fd = None if path is None else os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def record(self, ctx: TaskContext, task: Task, event: str, error: str | None) -> None:
        if self._fd is None:
            return
        payload = bytes(task.payload)
        line = {
            "event": event,
            "id": ctx.task_id,
            "type": task.type,
            "queue": ctx.queue,
            "payload_b64": base64.b64encode(payload).decode() if payload else None,
            "headers": dict(task.headers),
            "retry_count": ctx.retry_count,
            "max_retry": ctx.max_retry,
            "error": error,
            "t": time.time(),
            "pid": os.getpid(),
        }
        data = (json.dumps(line) + "\n").encode()
        with self._lock:
            os.write(self._fd, data)
            os.fsync(self._fd)


async def handle_sleep(ctx: TaskContext, task: Task) -> None:
    text = bytes(task.payload).decode().strip()
    await asyncio.sleep(int(text or "0") / 1000)


async def handle_result(ctx: TaskContext, task: Task) -> None:
    await asyncio.to_thread(ctx.write_result, bytes(task.payload))


async def handle_fail(ctx: TaskContext, task: Task) -> None:
    raise RuntimeError("boom")


async def handle_skip(ctx: TaskContext, task: Task) -> None:
    raise SkipRetry("boom: skip retry for the task")


async def handle_revoke(ctx: TaskContext, task: Task) -> None:
    raise RevokeTask("revoke task")


async def handle_ok(ctx: TaskContext, task: Task) -> None:
    return None


HANDLERS: dict[str, Any] = {
    "ok": handle_ok,
    "fail": handle_fail,
    "skip": handle_skip,
    "revoke": handle_revoke,
    "sleep": handle_sleep,
    "result": handle_result,
    "panic": handle_fail,
    "aggregated": handle_ok,
}


def make_mux(ledger: Ledger) -> ServeMux:
    """A mux routing each known type to ``root``, which dispatches and writes the ledger."""

    async def root(ctx: TaskContext, task: Task) -> None:
        ledger.record(ctx, task, "start", None)
        try:
            await HANDLERS.get(task.type, handle_ok)(ctx, task)
        except asyncio.CancelledError:
            ledger.record(ctx, task, "end", "context canceled")
            raise
        except BaseException as exc:
            ledger.record(ctx, task, "end", str(exc))
            raise
        ledger.record(ctx, task, "end", None)

    mux = ServeMux()
    for name in HANDLERS:
        mux.handle_func(name, root)
    return mux


def aggregate(group: str, tasks: list[Task]) -> Task:
    return Task("aggregated", b",".join(bytes(t.payload) for t in tasks))


def parse_queues(text: str) -> dict[str, int]:
    queues: dict[str, int] = {}
    for part in text.split(","):
        if part.strip():
            name, _, prio = part.partition("=")
            queues[name.strip()] = int(prio or "1")
    return queues


def main() -> int:
    parser = argparse.ArgumentParser(prog="pyserver")
    parser.add_argument("-redis", required=True)
    parser.add_argument("-queues", default="default=1")
    parser.add_argument("-concurrency", type=int, default=4)
    parser.add_argument("-ledger", default=None)
    parser.add_argument("-shutdown-timeout", type=float, default=2.0)
    parser.add_argument("-group-grace", type=float, default=1.0)
    parser.add_argument("-delayed-check", type=float, default=1.0)
    parser.add_argument("-task-check", type=float, default=0.1)
    parser.add_argument("-retry-delay", type=float, default=0.0)
    args = parser.parse_args()

    config: dict[str, Any] = {
        "concurrency": args.concurrency,
        "queues": parse_queues(args.queues),
        "shutdown_timeout_s": args.shutdown_timeout,
        "group_grace_period_s": args.group_grace,
        "group_aggregator": aggregate,
        "delayed_task_check_interval_s": args.delayed_check,
        "task_check_interval_s": args.task_check,
    }
    if args.retry_delay > 0:
        delay = args.retry_delay
        config["retry_delay_func"] = lambda n, exc, task: delay
    server = Server(args.redis, ServerConfig(**config))

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start(make_mux(Ledger(args.ledger)))
    print(
        json.dumps({"event": "started", "pid": os.getpid(), "server_id": server.identity.server_id}),
        flush=True,
    )
    while not stop.wait(0.1):
        pass
    server.shutdown()
    print(json.dumps({"event": "stopped"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
