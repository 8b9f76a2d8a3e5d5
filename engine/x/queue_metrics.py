"""Queue metrics for Prometheus with exactly the names, types, labels and help texts of Go asynq's
``x/metrics.QueueMetricsCollector`` (v0.26.0), so dashboards built for Go work unchanged.

Every scrape reads every queue once, in one pipelined round trip (``Inspector.queue_infos``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..errors import AsynqError
from ..info import QueueInfo
from ..inspector import Inspector

__all__ = ["QueueMetricsCollector"]

_STATES = ("active", "pending", "scheduled", "retry", "archived", "completed")


_Families = tuple[
    GaugeMetricFamily,
    GaugeMetricFamily,
    GaugeMetricFamily,
    GaugeMetricFamily,
    CounterMetricFamily,
    CounterMetricFamily,
    GaugeMetricFamily,
]


def _families() -> _Families:
    return (
        GaugeMetricFamily(
            "asynq_tasks_enqueued_total",
            "Number of tasks enqueued; broken down by queue and state.",
            labels=("queue", "state"),
        ),
        GaugeMetricFamily("asynq_queue_size", "Number of tasks in a queue", labels=("queue",)),
        GaugeMetricFamily(
            "asynq_queue_latency_seconds",
            "Number of seconds the oldest pending task is waiting in pending state to be processed.",
            labels=("queue",),
        ),
        GaugeMetricFamily(
            "asynq_queue_memory_usage_approx_bytes",
            "Number of memory used by a given queue (approximated number by sampling).",
            labels=("queue",),
        ),
        CounterMetricFamily(
            "asynq_tasks_processed_total",
            "Number of tasks processed (both succeeded and failed); broken down by queue",
            labels=("queue",),
        ),
        CounterMetricFamily(
            "asynq_tasks_failed_total", "Number of tasks failed; broken down by queue", labels=("queue",)
        ),
        GaugeMetricFamily("asynq_queue_paused_total", "Number of queues paused", labels=("queue",)),
    )


class QueueMetricsCollector(Collector):
    """A ``prometheus_client`` collector of every queue's sizes, latency, memory and counters.

    Register it with ``prometheus_client.REGISTRY.register(QueueMetricsCollector(inspector))``.
    When Redis cannot be read it logs the error and reports no queue metrics, as Go's does.

    Args:
        inspector: The inspector to read queues with (its connection pool is thread-safe).
        logger: Where read failures go (default ``logging.getLogger("asynq_py")``).
    """

    def __init__(self, inspector: Inspector, logger: logging.Logger | None = None) -> None:
        self._inspector = inspector
        self._log = logger or logging.getLogger("asynq_py")

    def describe(self) -> list[Metric]:
        """Return the metric families without samples (so registering reads no Redis)."""
        return list(_families())

    def collect(self) -> Iterator[Metric]:
        """Read every queue and yield the seven Go metric families."""
        try:
            infos = self._inspector.queue_infos()
        except AsynqError as exc:
            self._log.error("Failed to collect metrics data: %s", exc)
            infos = []
        yield from families(infos)


def families(infos: list[QueueInfo]) -> _Families:
    """Return the Go-named metric families for ``infos``."""
    enqueued, size, latency, memory, processed, failed, paused = _families()
    for info in infos:
        q = info.queue
        for state in _STATES:
            enqueued.add_metric((q, state), getattr(info, state))
        size.add_metric((q,), info.size)
        latency.add_metric((q,), info.latency.total_seconds())
        memory.add_metric((q,), info.memory_usage)
        processed.add_metric((q,), info.processed_total)
        failed.add_metric((q,), info.failed_total)
        paused.add_metric((q,), 1 if info.paused else 0)
    return enqueued, size, latency, memory, processed, failed, paused
