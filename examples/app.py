"""Example handlers for ``asynq-py serve examples/app.py:mux``.

Enqueue work for them from another terminal::

    asynq-py enqueue email:deliver --payload '{"user_id": 42}'
    asynq-py enqueue image:resize --payload '{"url": "https://example.com/cat.png"}' --in 10s
    asynq-py enqueue report:flaky --max-retry 2
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from asynq_py.engine import ServeMux, Task, TaskContext

log = logging.getLogger("examples")
mux = ServeMux()


@mux.handle_func("email:")
async def send_email(ctx: TaskContext, task: Task) -> None:
    """An ``async def`` handler: runs on the event loop."""
    user_id = task.payload.get_int("user_id")
    await asyncio.sleep(0.1)
    log.info("sent %s to user %d (task %s)", task.type, user_id, ctx.task_id)


@mux.handle_func("image:resize")
def resize_image(ctx: TaskContext, task: Task) -> bytes:
    """A ``def`` handler: runs in a thread; what it returns is kept as the result (with retention)."""
    url = task.payload.get_string("url")
    for _ in range(10):
        if ctx.cancelled.is_set():
            raise TimeoutError("cancelled while resizing")
        time.sleep(0.05)
    log.info("resized %s", url)
    return f"resized:{url}".encode()


@mux.handle_func("report:flaky")
def flaky_report(ctx: TaskContext, task: Task) -> None:
    """Fails half the time, so that retries and archiving can be watched."""
    if random.random() < 0.5:
        raise RuntimeError(f"report failed on attempt {ctx.retry_count + 1}")
    log.info("report done after %d retries", ctx.retry_count)
