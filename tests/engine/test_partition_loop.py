"""Across a network partition the worker's event loop keeps turning: the Pub/Sub listener must not
spin on redis-py replies that come back at once without suspending (it starved the loop for 8 s,
so a lost lease could not stop an ``async def`` handler)."""

from __future__ import annotations

import asyncio
import time

import pytest
from topology import partition_factory

from asynq_py.engine import AsynqError
from asynq_py.engine.broker import AsyncBroker

pytestmark = [pytest.mark.real, pytest.mark.cluster]
__all__ = ["partition_factory"]


async def test_the_event_loop_turns_while_pubsub_is_cut_off(partition_factory, tmp_path) -> None:
    part = partition_factory()
    server = part.start_server(tmp_path / "redis")
    broker = AsyncBroker(server.url)
    stopping, subscribed = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    gaps: list[float] = []

    async def listen_forever() -> None:
        while not stopping.is_set():
            try:
                await broker.listen(["chan"], lambda channel, data: None, stopping, subscribed)
            except AsynqError:  # the subscriber retries after a failure
                await asyncio.sleep(0.5)

    listener = asyncio.create_task(listen_forever())
    try:
        await asyncio.wait_for(subscribed.wait(), 10)
        part.cut()
        try:
            last = loop.time()
            end = time.monotonic() + 10
            while time.monotonic() < end:
                await asyncio.sleep(0.05)
                now = loop.time()
                gaps.append(now - last)
                last = now
        finally:
            part.heal()
    finally:
        stopping.set()
        await asyncio.wait_for(listener, 15)
        await broker.aclose()
        server.stop()
    print(f"longest event-loop gap during a 10 s partition: {max(gaps):.2f}s")
    assert max(gaps) < 1.0
