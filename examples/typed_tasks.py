"""Typed tasks shared by the recipes (docs/recipes.md): ``asynq-py serve examples/typed_tasks.py:mux``.

Enqueue one from another terminal, checked against the definition below::

    asynq-py enqueue email:welcome --app examples/typed_tasks.py:mux --arg user_id=42
"""

from __future__ import annotations

import logging

from asynq_py.engine import ServeMux, TaskContext

log = logging.getLogger("examples")
mux = ServeMux()


@mux.task("email:welcome", queue="emails", max_retry=5)
async def send_welcome(ctx: TaskContext, user_id: int, subject: str = "Welcome") -> bytes:
    """Send the welcome email; the result (kept when the task has a retention) says what was sent."""
    log.info("sending %r to user %d (task %s)", subject, user_id, ctx.task_id)
    return f"sent {subject!r} to user {user_id}".encode()
