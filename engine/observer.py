"""``WorkerObserver``: what a ``Server`` reports about its work, for metrics.

A server calls its observer (``ServerConfig.observer``) from the event loop and the heartbeat
thread; with none configured each call site costs one ``is None`` test. The Prometheus
implementation is ``asynq_py.engine.x.worker_metrics.WorkerMetrics``.
"""

from __future__ import annotations

from typing import Literal, Protocol

__all__ = ["Outcome", "WorkerObserver"]

Outcome = Literal["succeeded", "retried", "archived", "revoked", "requeued", "lost", "throttled"]
"""How a run ended: written as done or completed; sent to retry; archived; revoked by the handler
(deleted); requeued at shutdown; its lease was lost (the recoverer takes it back); or rescheduled
because the handler raised ``RateLimited`` (not a failure)."""


class WorkerObserver(Protocol):
    """Receives a server's events; every method must be cheap, thread-safe and never raise."""

    def serving(self, concurrency: int) -> None:
        """The server started with ``concurrency`` slots (0: it shut down)."""

    def started(self, queue: str, task_type: str, waited_s: float | None) -> None:
        """A handler started; ``waited_s`` is how long the task was pending (None if unknown)."""

    def finished(self, queue: str, task_type: str, outcome: Outcome, duration_s: float) -> None:
        """A run ended with ``outcome`` after ``duration_s`` seconds."""

    def lease_extensions_failed(self, queue: str, count: int) -> None:
        """A heartbeat could not extend the leases of ``count`` tasks of ``queue``."""

    def redis_error(self, kind: str) -> None:
        """A Redis call failed with an error of ``kind`` (the ``AsynqError`` class name)."""
