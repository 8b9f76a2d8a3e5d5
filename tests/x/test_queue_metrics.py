"""Queue metrics: Go x/metrics's names, types, labels and help texts, with values from a seeded state."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from seed import message, seed_task

from asynq_py.engine import Inspector, RedisUnavailableError, SimulatedClock
from asynq_py.engine.x.queue_metrics import QueueMetricsCollector

NOW = float(int(time.time()))

GO_METRICS = {  # read from hibiken/asynq x/metrics/metrics.go at v0.26.0
    "asynq_tasks_enqueued_total": ("gauge", "Number of tasks enqueued; broken down by queue and state."),
    "asynq_queue_size": ("gauge", "Number of tasks in a queue"),
    "asynq_queue_latency_seconds": (
        "gauge",
        "Number of seconds the oldest pending task is waiting in pending state to be processed.",
    ),
    "asynq_queue_memory_usage_approx_bytes": (
        "gauge",
        "Number of memory used by a given queue (approximated number by sampling).",
    ),
    "asynq_tasks_processed_total": (
        "counter",
        "Number of tasks processed (both succeeded and failed); broken down by queue",
    ),
    "asynq_tasks_failed_total": ("counter", "Number of tasks failed; broken down by queue"),
    "asynq_queue_paused_total": ("gauge", "Number of queues paused"),
}


def scrape(registry: CollectorRegistry) -> tuple[str, dict[str, Any]]:
    text = generate_latest(registry).decode()
    return text, {f.name: f for f in text_string_to_metric_families(text)}


def samples(families: dict[str, Any], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    family = (
        families[name.removesuffix("_total")] if name.removesuffix("_total") in families else families[name]
    )
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def test_seeded_state_gives_go_named_metrics(redis_client: redis.Redis, backend: str) -> None:
    for state, count in (("pending", 3), ("active", 1), ("scheduled", 2), ("retry", 1), ("archived", 4)):
        for i in range(count):
            seed_task(
                redis_client, message("t", queue="mail", task_id=f"{state}{i}"), state, score=NOW, now=NOW - 7
            )
    seed_task(redis_client, message("t", queue="zeta", task_id="c0"), "completed", score=NOW + 60)
    redis_client.set("asynq:{mail}:processed", 12)
    redis_client.set("asynq:{mail}:failed", 5)
    redis_client.set("asynq:{zeta}:paused", int(NOW))
    inspector = Inspector(redis_client, clock=SimulatedClock(NOW))
    registry = CollectorRegistry()
    registry.register(QueueMetricsCollector(inspector))
    text, families = scrape(registry)
    for name, (kind, help_text) in GO_METRICS.items():
        assert f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n" in text
    enqueued = samples(families, "asynq_tasks_enqueued_total")
    assert enqueued[(("queue", "mail"), ("state", "pending"))] == 3
    assert enqueued[(("queue", "mail"), ("state", "archived"))] == 4
    assert enqueued[(("queue", "zeta"), ("state", "completed"))] == 1
    assert len(enqueued) == 12  # six states for each of two queues
    assert samples(families, "asynq_queue_size") == {(("queue", "mail"),): 11, (("queue", "zeta"),): 1}
    assert samples(families, "asynq_queue_latency_seconds")[(("queue", "mail"),)] == pytest.approx(
        7, abs=0.01
    )
    assert samples(families, "asynq_queue_paused_total") == {(("queue", "mail"),): 0, (("queue", "zeta"),): 1}
    assert samples(families, "asynq_tasks_processed_total")[(("queue", "mail"),)] == 12
    assert samples(families, "asynq_tasks_failed_total")[(("queue", "mail"),)] == 5
    memory = inspector.get_queue_info("mail").memory_usage
    assert samples(families, "asynq_queue_memory_usage_approx_bytes")[(("queue", "mail"),)] == memory
    assert memory > 0 or backend == "fake"  # fakeredis has no MEMORY USAGE


def test_registering_reads_nothing_and_an_unreachable_redis_reports_no_queues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inspector = Inspector("redis://127.0.0.1:1/0")
    registry = CollectorRegistry()
    registry.register(QueueMetricsCollector(inspector))  # describe(): no Redis call, no error
    with caplog.at_level(logging.ERROR, logger="asynq_py"):
        _, families = scrape(registry)
    assert all(not f.samples for f in families.values())
    assert set(families) == {
        n.removesuffix("_total") if GO_METRICS[n][0] == "counter" else n for n in GO_METRICS
    }
    assert "Failed to collect metrics data" in caplog.text
    with pytest.raises(RedisUnavailableError):
        inspector.queue_infos()
    inspector.close()
