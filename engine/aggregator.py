"""The aggregator: turns ready groups into one task each with the user's aggregator (docs/wire.md §5.6)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from . import rdb
from .broker import AsyncBroker
from .client import AsyncClient
from .clock import Clock
from .config import ServerConfig
from .errors import DecodeError
from .task import Task
from .wire import decode_task_message

__all__ = ["Aggregator"]


class Aggregator:
    """One step checks every group of every queue and aggregates the ready ones."""

    def __init__(
        self,
        broker: AsyncBroker,
        client: AsyncClient,
        config: ServerConfig,
        aggregate: Callable[[str, list[Task]], Task],
        clock: Clock,
        logger: logging.Logger,
    ) -> None:
        self._broker = broker
        self._client = client
        self._config = config
        self._aggregate = aggregate
        self._queues = sorted(config.effective_queues())
        self._clock = clock
        self._log = logger

    async def step(self) -> int:
        """Aggregate every ready group; return how many aggregated tasks were enqueued."""
        made = 0
        for queue in self._queues:
            for group in await self._broker.run(rdb.group_names(queue)):
                while await self._aggregate_once(queue, group):
                    made += 1
        return made

    async def _aggregate_once(self, queue: str, group: str) -> bool:
        cfg = self._config
        found = await self._broker.run(
            rdb.aggregate_group(
                queue,
                group,
                str(uuid.uuid4()),
                now=self._clock.now(),
                max_size=cfg.group_max_size,
                max_delay_s=cfg.group_max_delay_s,
                grace_s=cfg.group_grace_period_s,
            )
        )
        if found is None:
            return False
        messages, set_key = found
        tasks = []
        for data in messages:
            try:
                msg = decode_task_message(data)
            except DecodeError as exc:
                self._log.error("skipping an undecodable task in group %s: %s", group, exc)
                continue
            tasks.append(Task(msg.type, msg.payload, headers=msg.headers))
        try:
            aggregated = self._aggregate(group, tasks)
            await self._client.enqueue(aggregated, queue=queue)
        except Exception:
            # The set stays; the recoverer puts its tasks back in the group after its deadline.
            self._log.exception("aggregating group %s of queue %s failed", group, queue)
            return False
        await self._broker.run(rdb.delete_aggregation_set(queue, set_key))
        return True
