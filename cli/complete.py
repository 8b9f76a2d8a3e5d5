"""Dynamic shell completion: queue names read from Redis, quickly or not at all.

Completion runs on every Tab press, so it never starts the embedded server, waits at most half a
second for Redis, and answers with nothing rather than an error.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["COMPLETION_TIMEOUT_S", "complete_queue"]

COMPLETION_TIMEOUT_S = 0.5
"""Longest wait for Redis while completing."""


def complete_queue(ctx: Any, incomplete: str) -> list[str]:
    """Return the queue names that start with ``incomplete`` (none if Redis does not answer in time)."""
    try:
        from asynq_py.engine import Inspector
        from asynq_py.engine.settings import resolve

        root = ctx.find_root()
        params = root.params
        settings = resolve(
            redis=params.get("redis"),
            password=params.get("password"),
            config=params.get("config"),
            env=os.environ,
        )
        opt = settings.conn_opt(
            start=False, connect_timeout_s=COMPLETION_TIMEOUT_S, socket_timeout_s=COMPLETION_TIMEOUT_S
        )
        if opt is None:
            return []
        with Inspector(opt) as inspector:
            names = inspector.queues()
    except Exception:  # a completion must never fail or print
        return []
    return [name for name in names if name.startswith(incomplete)]
