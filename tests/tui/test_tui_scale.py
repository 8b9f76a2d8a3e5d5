"""The dashboard at scale: 100 queues and 100,000 tasks are listed, paged and filtered correctly.

How fast is measured by ``benchmarks/dash.py``, not here: tests assert behaviour, not timings.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest
import redis
from seed import message, seed_task

from asynq_py.engine import AsyncInspector
from asynq_py.tui import DashboardApp
from asynq_py.tui.screen_queue import QueueScreen

# Seeding 100k tasks takes ~20 s of CPU; on a loaded machine (parallel workers) give it room.
pytestmark = [pytest.mark.real, pytest.mark.slow, pytest.mark.timeout(240)]

QUEUES = 100
BIG = 100_000
SIZE = (150, 45)


@pytest.fixture(autouse=True)
def frozen_heap() -> Iterator[None]:
    """Measure the dashboard alone: what earlier tests left in memory is kept out of the garbage
    collector's full passes, which otherwise grow with the size of the whole test session."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="module")
def big_url(real_redis_url: str) -> Iterator[str]:
    """Database 3 of the session's Redis: 99 small queues and one of 100,000 pending tasks."""
    url = real_redis_url.rsplit("/", 1)[0] + "/3"
    r = redis.Redis.from_url(url, socket_timeout=30)
    r.flushdb()
    pipe = r.pipeline(transaction=False)
    now = time.time()
    for q in range(QUEUES - 1):
        for i in range(5):
            seed_task(
                pipe, message("small", b"{}", queue=f"q{q:03d}", task_id=f"q{q:03d}-{i}"), "pending", now=now
            )
    for i in range(BIG):
        seed_task(
            pipe, message("bulk:item", b'{"n":1}', queue="big", task_id=f"big-{i:06d}"), "pending", now=now
        )
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    r.close()
    yield url
    r = redis.Redis.from_url(url, socket_timeout=30)
    r.flushdb()
    r.close()


async def test_hundred_queues_and_100k_tasks_page_and_filter(big_url, ui) -> None:
    inspector = AsyncInspector(big_url)
    try:
        app = DashboardApp(inspector, refresh_s=30)
        async with app.run_test(size=SIZE) as pilot:
            await ui.wait(pilot, lambda: len(ui.keys(app, "#queues")) == QUEUES)
            assert ui.keys(app, "#queues")[0] == "big"
            await pilot.press("enter")
            await ui.wait(
                pilot, lambda: isinstance(app.screen, QueueScreen) and len(ui.keys(app, "#tasks")) == 50
            )
            assert "Showing 1-50 of 100,000" in ui.static(app, "#pager")
            for page in range(2, 6):
                await pilot.press("n")
                first = f"big-{(page - 1) * 50:06d}"
                await ui.wait(pilot, lambda f=first: ui.keys(app, "#tasks")[:1] == [f])
            await pilot.press("slash", *"big-099999")
            await ui.wait(pilot, lambda: ui.keys(app, "#tasks") == ["big-099999"])  # found by its exact id
            assert "searched (stopped there)" in ui.static(app, "#pager")
    finally:
        await inspector.aclose()
