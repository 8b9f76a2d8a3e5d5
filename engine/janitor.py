"""The janitor: deletes completed tasks whose retention has run out (docs/wire.md §5.7)."""

from __future__ import annotations

from . import rdb
from .broker import AsyncBroker
from .clock import Clock

__all__ = ["Janitor"]


class Janitor:
    """One step cleans every queue, in batches."""

    def __init__(self, broker: AsyncBroker, queues: list[str], clock: Clock, batch_size: int) -> None:
        self._broker = broker
        self._queues = queues
        self._clock = clock
        self._batch_size = batch_size

    async def step(self) -> int:
        """Delete expired completed tasks; return how many."""
        deleted = 0
        for queue in self._queues:
            deleted += await self._broker.run(
                rdb.delete_expired_completed(queue, now=self._clock.now(), batch=self._batch_size)
            )
        return deleted
