"""asynq-py with ``def`` handlers (run in the server's thread pool) instead of ``async def``.

Enqueueing is the same as ``peer_asynqpy``; only the worker differs. The probe is the blocking one.
"""

from __future__ import annotations

from typing import Any

import peer_asynqpy
from benchcommon import SyncProbe, Unavailable, redis_url

enqueue = peer_asynqpy.enqueue


def info() -> dict[str, Any]:
    base = peer_asynqpy.info()
    conc = peer_asynqpy.CONCURRENCY
    base["config"] = {
        "1": f"Server(concurrency={conc}), def handlers in the thread pool, 1 process",
        "2": f"ServerConfig(processes=2, concurrency={conc}), def handlers",
    }
    return base


def worker(processes: int) -> None:
    api = peer_asynqpy._server_api()
    if api is None:
        raise Unavailable("Server not available yet")
    server_cls, config_cls, mux_cls = api
    probe = SyncProbe()

    def noop(ctx: Any, task: Any) -> None:
        probe.done()

    def lat(ctx: Any, task: Any) -> None:
        body = task.payload.json()
        probe.latency(float(body["t"]), str(body["k"]))

    mux = mux_cls()
    mux.handle_func(peer_asynqpy.NOOP, noop)
    mux.handle_func(peer_asynqpy.LAT, lat)
    options: dict[str, Any] = {"concurrency": peer_asynqpy.CONCURRENCY, "queues": {"default": 1}}
    if processes > 1:
        options["processes"] = processes
    server_cls(redis_url(), config_cls(**options)).run(mux)
