"""The check that opens every queue operation but pause, unpause and cancel: the queue exists.

It is sent in the same round trip as the operation's own calls (Go's inspector makes the same check first).
"""

from __future__ import annotations

from typing import Any

from .. import keys
from ..calls import Command
from ..errors import QueueNotFoundError

__all__ = ["check_queue", "queue_exists"]


def queue_exists(queue: str) -> Command:
    """The call that tells whether ``queue`` is in ``asynq:queues`` (its reply goes to ``check_queue``)."""
    return Command(("SISMEMBER", keys.ALL_QUEUES, queue))


def check_queue(queue: str, reply: Any) -> None:
    """Raise the error ``queue_exists`` got, or ``QueueNotFoundError`` if the queue is not there."""
    if isinstance(reply, Exception):
        raise reply
    if not reply:
        raise QueueNotFoundError(f"queue {queue!r} not found", queue=queue)
