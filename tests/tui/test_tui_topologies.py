"""The dashboard on a Redis Cluster and on Sentinel through a failover (issue 10): it shows the
queues, keeps running while the master is down, and shows a queue created after the promotion."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from topology import Cluster, SentinelGroup, cluster_factory, sentinel_factory

from asynq_py.engine import AsyncInspector, AsynqError, Client, Task
from asynq_py.tui import DashboardApp

pytestmark = [pytest.mark.real, pytest.mark.cluster]
__all__ = ["cluster_factory", "sentinel_factory"]

SIZE = (150, 45)
QUEUES = ["dq0", "dq1", "dq2", "dq3"]


async def through_failover(url: str, ui: Any, fail_over: Callable[[], None]) -> float:
    """Run the dashboard on ``url`` across ``fail_over``; return seconds from the promotion until
    it showed a queue created after it."""
    with Client(url) as client:
        for q in QUEUES:
            client.enqueue(Task("t"), queue=q)
    inspector = AsyncInspector(url)
    app = DashboardApp(inspector, None, refresh_s=0.3)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await ui.wait(pilot, lambda: ui.keys(app, "#queues") == QUEUES)
            await asyncio.to_thread(fail_over)
            promoted = time.monotonic()
            late = None
            deadline = promoted + 20
            while late is None:
                try:
                    with Client(url) as client:
                        client.enqueue(Task("t"), queue="after")
                    late = "after"
                except AsynqError:  # the new master may need a moment
                    assert time.monotonic() < deadline
                    await pilot.pause(0.1)
            await ui.wait(pilot, lambda: "after" in ui.keys(app, "#queues"), timeout=15)
            shown = time.monotonic() - promoted
            assert app.is_running
            return shown
    finally:
        await inspector.aclose()


async def test_dashboard_on_a_cluster_through_a_failover(cluster_factory, ui) -> None:
    cluster: Cluster = cluster_factory()

    def fail_over() -> None:
        _, replica = cluster.kill_master_of(0)
        cluster.wait_promoted(replica)

    shown = await through_failover(cluster.url, ui, fail_over)
    print(f"cluster: the dashboard showed a new queue {shown:.2f}s after the promotion")
    assert shown <= 5.0


async def test_dashboard_on_sentinel_through_a_failover(sentinel_factory, ui) -> None:
    group: SentinelGroup = sentinel_factory()

    def fail_over() -> None:
        group.kill_master()
        group.wait_promoted()

    shown = await through_failover(group.url, ui, fail_over)
    print(f"sentinel: the dashboard showed a new queue {shown:.2f}s after the promotion")
    assert shown <= 5.0
