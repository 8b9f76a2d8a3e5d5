"""The asyncio flavour on uvloop, the event loop uvicorn (and so many FastAPI apps) runs by default."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
import uvloop

from asynq_py.engine import (
    AsyncClient,
    AsyncInspector,
    ServeMux,
    Server,
    ServerConfig,
    Task,
    TaskContext,
    TaskState,
)

T = TypeVar("T")


def run_on_uvloop(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``coro_factory()`` on a fresh uvloop loop, with a 20 s bound."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)
        return runner.run(asyncio.wait_for(coro_factory(), 20))


def test_async_client_and_inspector_work_on_uvloop(real_redis_url: str, queue: str) -> None:
    async def scenario() -> tuple[int, TaskState]:
        async with AsyncClient(real_redis_url) as client, AsyncInspector(real_redis_url) as inspector:
            tasks = [Task("uv", b"%d" % i) for i in range(20)]
            infos = await asyncio.gather(*(client.enqueue(t, queue=queue) for t in tasks))
            stored = await inspector.get_task_info(queue, infos[0].id)
            return len({info.id for info in infos}), stored.state

    distinct, state = run_on_uvloop(scenario)
    assert distinct == 20
    assert state is TaskState.PENDING


@pytest.mark.timeout(60)
def test_a_server_drains_on_uvloop(real_redis_url: str, queue: str) -> None:
    seen: list[bytes] = []

    async def handler(ctx: TaskContext, task: Task) -> None:
        seen.append(bytes(task.payload))

    async def scenario() -> None:
        mux = ServeMux()
        mux.handle("uv", handler)
        async with AsyncClient(real_redis_url) as client:
            for i in range(5):
                await client.enqueue(Task("uv", b"%d" % i), queue=queue)
        config = ServerConfig(concurrency=2, queues={queue: 1}, task_check_interval_s=0.1)
        server = Server(real_redis_url, config)
        running = await server.start_async(mux)
        try:
            while len(seen) < 5:
                await asyncio.sleep(0.05)
        finally:
            await server.shutdown_async()
            await running

    run_on_uvloop(scenario)
    assert sorted(seen) == [b"%d" % i for i in range(5)]
