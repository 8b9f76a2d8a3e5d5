"""Prometheus metrics of a running ``Server``: what Go asynq's collector cannot see from Redis.

Pass ``WorkerMetrics()`` as ``ServerConfig(observer=...)``. Metric names, all per ``queue`` and
``task_type`` unless said:

- ``asynq_worker_tasks_started_total``, ``..._succeeded_total``, ``..._failed_total`` (the handler
  raised: retried, archived or revoked), ``..._retried_total``, ``..._archived_total``;
- ``asynq_worker_task_duration_seconds`` (histogram, handler start to outcome);
- ``asynq_worker_task_wait_seconds`` (histogram, pending to start: time from enqueue, or from
  becoming due, to a worker taking the task);
- ``asynq_worker_tasks_in_flight`` (gauge) and ``asynq_worker_concurrency`` (gauge, no labels);
- ``asynq_worker_lease_extensions_failed_total`` (per ``queue``);
- ``asynq_worker_redis_errors_total`` (per ``kind``, the error class).

With ``PROMETHEUS_MULTIPROC_DIR`` set before ``prometheus_client`` is first imported, the values
live in that folder, so that one endpoint serves a whole ``--processes N`` group (gauges are
summed over live processes).
"""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from ..observer import Outcome

__all__ = ["WorkerMetrics"]

_LABELS = ("queue", "task_type")
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, float("inf"))


class _Children(NamedTuple):
    started: Counter
    succeeded: Counter
    failed: Counter
    retried: Counter
    archived: Counter
    duration: Histogram
    wait: Histogram
    in_flight: Gauge


class WorkerMetrics:
    """A ``WorkerObserver`` that counts into Prometheus metrics.

    Args:
        registry: Where to register the metrics (default ``prometheus_client.REGISTRY``; None
            registers nowhere, as multiprocess mode wants).
    """

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:

        def counter(name: str, doc: str, labels: tuple[str, ...] = _LABELS) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        self.started_total = counter("asynq_worker_tasks_started_total", "Tasks whose handler started.")
        self.succeeded_total = counter("asynq_worker_tasks_succeeded_total", "Tasks whose handler succeeded.")
        self.failed_total = counter(
            "asynq_worker_tasks_failed_total", "Tasks whose handler failed (retried, archived or revoked)."
        )
        self.retried_total = counter("asynq_worker_tasks_retried_total", "Failed tasks sent to retry.")
        self.archived_total = counter("asynq_worker_tasks_archived_total", "Failed tasks archived.")
        self.duration = Histogram(
            "asynq_worker_task_duration_seconds",
            "Seconds from a handler's start to its task's outcome.",
            _LABELS,
            buckets=_BUCKETS,
            registry=registry,
        )
        self.wait = Histogram(
            "asynq_worker_task_wait_seconds",
            "Seconds a task was pending before a worker started it.",
            _LABELS,
            buckets=_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "asynq_worker_tasks_in_flight",
            "Tasks being processed now.",
            _LABELS,
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.concurrency = Gauge(
            "asynq_worker_concurrency",
            "Tasks the worker processes may run at once.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.lease_failures_total = counter(
            "asynq_worker_lease_extensions_failed_total",
            "Task leases a heartbeat could not extend.",
            ("queue",),
        )
        self.redis_errors_total = counter(
            "asynq_worker_redis_errors_total", "Failed Redis calls of the worker.", ("kind",)
        )
        self._children: dict[tuple[str, str], _Children] = {}
        """The labelled children per (queue, task type): one dict lookup per event, not eight."""

    def serving(self, concurrency: int) -> None:
        """Record the server's concurrency (0 once it shut down)."""
        self.concurrency.set(concurrency)

    def _of(self, queue: str, task_type: str) -> _Children:
        children = self._children.get((queue, task_type))
        if children is None:
            key = (queue, task_type)
            children = self._children[key] = _Children(
                self.started_total.labels(*key),
                self.succeeded_total.labels(*key),
                self.failed_total.labels(*key),
                self.retried_total.labels(*key),
                self.archived_total.labels(*key),
                self.duration.labels(*key),
                self.wait.labels(*key),
                self.in_flight.labels(*key),
            )
        return children

    def started(self, queue: str, task_type: str, waited_s: float | None) -> None:
        """Count a started handler and how long its task waited."""
        c = self._of(queue, task_type)
        c.started.inc()
        c.in_flight.inc()
        if waited_s is not None:
            c.wait.observe(max(0.0, waited_s))

    def finished(self, queue: str, task_type: str, outcome: Outcome, duration_s: float) -> None:
        """Count a run's outcome and duration."""
        c = self._of(queue, task_type)
        c.in_flight.dec()
        c.duration.observe(max(0.0, duration_s))
        if outcome == "succeeded":
            c.succeeded.inc()
        elif outcome in ("retried", "archived", "revoked"):
            c.failed.inc()
            if outcome == "retried":
                c.retried.inc()
            elif outcome == "archived":
                c.archived.inc()

    def lease_extensions_failed(self, queue: str, count: int) -> None:
        """Count leases a heartbeat could not extend."""
        self.lease_failures_total.labels(queue).inc(count)

    def redis_error(self, kind: str) -> None:
        """Count a failed Redis call."""
        self.redis_errors_total.labels(kind).inc()
