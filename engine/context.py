"""``TaskContext``: what a handler knows about the task it runs, and how it is told to stop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .errors import TaskStateError

__all__ = ["TaskContext"]

_MAKING = threading.Lock()
"""Makes each context's ``cancelled`` event once, whichever thread asks first."""


@dataclass(slots=True)
class TaskContext:
    """Passed to every handler with its task.

    ``cancelled`` is set when the task's deadline passes, when it is cancelled through
    ``Inspector.cancel_processing``, when its lease is lost, or at shutdown; a ``def`` handler
    should check it in long loops (an ``async def`` handler is also cancelled with ``CancelledError``).
    """

    task_id: str
    """The task id."""
    queue: str
    """The queue it came from."""
    retry_count: int
    """How many times it has been retried before this run."""
    max_retry: int
    """How many retries it is allowed."""
    deadline: datetime
    """When this run must be finished."""
    _write_result: Callable[[TaskContext, bytes], None] | None = field(default=None, repr=False)
    _cancelled: threading.Event | None = field(default=None, repr=False)

    @property
    def cancelled(self) -> threading.Event:
        """Set when the handler should stop.

        Made on first use: most handlers never look, and an event costs a lock and a condition.
        """
        event = self._cancelled
        if event is None:
            with _MAKING:
                if self._cancelled is None:
                    self._cancelled = threading.Event()
                event = self._cancelled
        return event

    def write_result(self, data: bytes) -> None:
        """Store ``data`` as the task's result now (blocking; a handler may instead return it).

        Raises:
            TaskStateError: the run is over or cancelled, as Go refuses writes after its context ends.
        """
        if self._write_result is None:
            raise TaskStateError("this context has no result writer", task_id=self.task_id)
        self._write_result(self, data)
