"""asynq-py: ``Client`` to enqueue, ``Server``/``ServeMux`` to work (run with the project's venv).

Tasks go to queue ``default`` with asynq's defaults (no retention: a finished task is deleted).
The handlers are ``async def`` and use redis.asyncio for the probe.
"""

from __future__ import annotations

import inspect
import platform
from importlib import metadata
from typing import Any, Final

from benchcommon import AsyncProbe, Unavailable, batches, paced, redis_url, slots, timed

CONCURRENCY: Final = slots(10)
"""Task slots per worker process."""

NOOP: Final = "bench:noop"
LAT: Final = "bench:lat"


def _server_api() -> tuple[Any, Any, Any] | None:
    try:
        from asynq_py.engine import ServeMux, Server, ServerConfig
    except ImportError:
        return None
    return Server, ServerConfig, ServeMux


def _native_processes() -> bool:
    api = _server_api()
    if api is None:
        return False
    try:
        return "processes" in inspect.signature(api[1]).parameters
    except (TypeError, ValueError):
        return False


def _event_loop() -> str:
    """The worker's event loop, resolved as its ``Server`` resolves the default ``event_loop``."""
    api = _server_api()
    try:
        setting = inspect.signature(api[1]).parameters["event_loop"].default if api else None
    except (KeyError, TypeError, ValueError):
        setting = None
    if setting is None:
        return "event loop asyncio (this asynq-py has no event_loop option)"
    from asynq_py.engine.eventloop import loop_name

    return f"event loop {setting} ({loop_name(setting)})"


def info() -> dict[str, Any]:
    native = _native_processes()
    loop = _event_loop()
    one = f"Server(concurrency={CONCURRENCY}, queues={{'default': 1}}), async handlers, 1 process, {loop}"
    if native:
        two = f"ServerConfig(processes=2, concurrency={CONCURRENCY}): a supervisor and 2 workers, {loop}"
    else:
        two = f"2 Server processes side by side, concurrency={CONCURRENCY} each, {loop}"
    return {
        "versions": {
            "asynq-py": metadata.version("asynq-py"),
            "redis-py": metadata.version("redis"),
            "hiredis": metadata.version("hiredis"),
            "python": platform.python_version(),
        },
        "bulk": "Client.enqueue_many, 1000 tasks a call",
        "multi": "native" if native else "spawn",
        "config": {"1": one, "2": two},
        "server_available": _server_api() is not None,
    }


def enqueue(mode: str, n: int, interval: float, key: str) -> float:
    from asynq_py.engine import Client, Task

    client = Client(redis_url())
    try:
        if mode == "single":
            task = Task(NOOP)

            def single() -> None:
                for _ in range(n):
                    client.enqueue(task)

            return timed(single)
        if mode == "bulk":
            sizes = batches(n)

            def bulk() -> None:
                for size in sizes:
                    for result in client.enqueue_many([Task(NOOP) for _ in range(size)]):
                        if isinstance(result, Exception):
                            raise result

            return timed(bulk)
        return timed(lambda: paced(n, interval, lambda t: client.enqueue(Task(LAT, {"t": t, "k": key}))))
    finally:
        client.close()


def worker(processes: int) -> None:
    api = _server_api()
    if api is None:
        raise Unavailable(
            "Server not available yet: asynq_py.engine has no Server/ServerConfig/ServeMux, "
            "so asynq-py's worker figures cannot be measured"
        )
    server_cls, config_cls, mux_cls = api
    probe = AsyncProbe()

    async def noop(ctx: Any, task: Any) -> None:
        await probe.done()

    async def lat(ctx: Any, task: Any) -> None:
        body = task.payload.json()
        await probe.latency(float(body["t"]), str(body["k"]))

    mux = mux_cls()
    mux.handle_func(NOOP, noop)
    mux.handle_func(LAT, lat)
    options: dict[str, Any] = {"concurrency": CONCURRENCY, "queues": {"default": 1}}
    if processes > 1:
        if not _native_processes():
            raise Unavailable("this asynq-py Server has no processes= option; run one command per process")
        options["processes"] = processes
    server_cls(redis_url(), config_cls(**options)).run(mux)
