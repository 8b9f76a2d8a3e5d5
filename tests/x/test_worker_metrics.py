"""Worker metrics: a real server's runs counted by outcome, duration, wait, lease and Redis failures."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from helpers import wait_for
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from asynq_py.engine import Client, RevokeTask, ServeMux, Server, ServerConfig, SkipRetry, Task
from asynq_py.engine.x.worker_metrics import WorkerMetrics

pytestmark = pytest.mark.real

FAST = {
    "heartbeat_interval_s": 0.3,
    "lease_duration_s": 2,
    "delayed_task_check_interval_s": 0.2,
    "task_check_interval_s": 0.1,
    "shutdown_timeout_s": 1.0,
    "retry_delay_func": lambda n, exc, task: 0.0,
    "concurrency": 3,
}


def values(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_runs_are_counted_by_outcome(real_redis_url: str) -> None:
    queue = f"m-{uuid.uuid4().hex[:8]}"
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    mux = ServeMux()
    mux.handle_func("ok", lambda ctx, task: time.sleep(0.05))
    mux.handle_func("bad", lambda ctx, task: 1 / 0)
    mux.handle_func("skip", lambda ctx, task: (_ for _ in ()).throw(SkipRetry("no")))
    mux.handle_func("revoke", lambda ctx, task: (_ for _ in ()).throw(RevokeTask("gone")))
    server = Server(real_redis_url, ServerConfig(queues={queue: 1}, observer=metrics, **FAST))
    with Client(real_redis_url) as client:
        for _ in range(3):
            client.enqueue(Task("ok"), queue=queue)
        client.enqueue(Task("bad"), queue=queue, max_retry=1)
        client.enqueue(Task("skip"), queue=queue)
        client.enqueue(Task("revoke"), queue=queue)
        server.start(mux)
        try:
            ended = lambda: sum(  # noqa: E731
                v
                for (n, lb), v in values(registry).items()
                if n == "asynq_worker_task_duration_seconds_count"
            )
            wait_for(lambda: ended() == 7, what="seven runs", timeout=15)
            got = values(registry)
            assert got[("asynq_worker_concurrency", ())] == 3
        finally:
            server.shutdown()

    def v(name: str, task_type: str) -> float:
        return got.get((name, (("queue", queue), ("task_type", task_type))), 0.0)

    assert v("asynq_worker_tasks_started_total", "ok") == 3
    assert v("asynq_worker_tasks_succeeded_total", "ok") == 3
    assert v("asynq_worker_tasks_started_total", "bad") == 2
    assert (v("asynq_worker_tasks_failed_total", "bad"), v("asynq_worker_tasks_retried_total", "bad")) == (
        2,
        1,
    )
    assert v("asynq_worker_tasks_archived_total", "bad") == 1
    assert (v("asynq_worker_tasks_failed_total", "skip"), v("asynq_worker_tasks_archived_total", "skip")) == (
        1,
        1,
    )
    assert (
        v("asynq_worker_tasks_failed_total", "revoke"),
        v("asynq_worker_tasks_archived_total", "revoke"),
    ) == (1, 0)
    assert v("asynq_worker_tasks_in_flight", "ok") == 0
    assert v("asynq_worker_task_duration_seconds_sum", "ok") >= 0.15
    assert v("asynq_worker_task_wait_seconds_count", "ok") == 3  # every task carried its pending time
    assert values(registry)[("asynq_worker_concurrency", ())] == 0  # shut down


def test_redis_loss_counts_errors_and_failed_lease_extensions(real_server_factory: Any) -> None:
    redis_server = real_server_factory()
    queue = "lease"
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    running = threading.Event()
    release = threading.Event()

    def hold(ctx: Any, task: Task) -> None:
        running.set()
        release.wait(10)

    server = Server(redis_server.url, ServerConfig(queues={queue: 1}, observer=metrics, **FAST))
    with Client(redis_server.url) as client:
        client.enqueue(Task("hold"), queue=queue)
    server.start(hold)
    try:
        assert running.wait(10)
        got = values(registry)
        assert got[("asynq_worker_tasks_in_flight", (("queue", queue), ("task_type", "hold")))] == 1
        redis_server.stop()
        wait_for(
            lambda: values(registry).get(("asynq_worker_lease_extensions_failed_total", (("queue", queue),))),
            what="a failed lease extension",
            timeout=15,
        )
        errors = {lb: v for (n, lb), v in values(registry).items() if n == "asynq_worker_redis_errors_total"}
        assert errors.get((("kind", "RedisUnavailableError"),), 0) >= 1
    finally:
        release.set()
        server.shutdown()
