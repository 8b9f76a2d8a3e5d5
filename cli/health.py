"""``serve --health``: the ``/livez`` and ``/readyz`` probes of a worker (or worker group).

- ``/livez``: 200 while the server's event loop (with ``--processes``: the supervisor's loop) turns;
- ``/readyz``: 200 while Redis answers and every worker process of this server has a live
  heartbeat in it (written within two heartbeat intervals); else 503 with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asynq_py.engine import AsynqError, Inspector, Server

if TYPE_CHECKING:
    from .httpd import Response, Route

__all__ = ["health_routes"]

_TEXT = "text/plain; charset=utf-8"


def health_routes(server: Server, inspector: Inspector) -> dict[str, Route]:
    """Return the probe routes for ``server``, reading heartbeats with ``inspector``."""

    def livez() -> Response:
        if server.alive():
            return 200, _TEXT, b"ok\n"
        return 503, _TEXT, b"not alive: the event loop does not answer\n"

    def readyz() -> Response:
        pids = server.worker_pids()
        if not pids:
            return 503, _TEXT, b"not ready: no worker process is serving\n"
        try:
            live = inspector.servers()
        except AsynqError as exc:
            return 503, _TEXT, f"not ready: Redis: {exc}\n".encode()
        beating = {s.pid for s in live if s.host == server.identity.host}
        stale = sorted(set(pids) - beating)
        if stale:
            return (
                503,
                _TEXT,
                f"not ready: no live heartbeat from pid {', '.join(map(str, stale))}\n".encode(),
            )
        return 200, _TEXT, b"ok\n"

    return {"/livez": livez, "/readyz": readyz}
