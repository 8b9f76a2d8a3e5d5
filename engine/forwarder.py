"""The forwarder: moves due scheduled and retry tasks to pending or to their group (docs/wire.md §4.1.13)."""

from __future__ import annotations

from . import rdb
from .broker import AsyncBroker
from .clock import Clock

__all__ = ["Forwarder"]


class Forwarder:
    """One step forwards every due task of every queue."""

    def __init__(self, broker: AsyncBroker, queues: list[str], clock: Clock) -> None:
        self._broker = broker
        self._queues = queues
        self._clock = clock

    async def step(self) -> int:
        """Forward what is due; return how many tasks moved."""
        moved = 0
        for queue in self._queues:
            moved += await self._broker.run(rdb.forward_due(queue, now=self._clock.now()))
        return moved
