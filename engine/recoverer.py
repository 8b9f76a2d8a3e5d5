"""The recoverer: retries or archives tasks whose lease expired (docs/wire.md §5.5).

Beyond Go, it also gives a lease to active tasks that have none (so they are not stuck active
forever), archives tasks whose message cannot be decoded instead of giving up on every queue, and
drops ids whose task hash is gone (reliability spec R6, R17).
"""

from __future__ import annotations

import logging

from . import rdb
from .broker import AsyncBroker
from .clock import Clock
from .config import ServerConfig
from .errors import AsynqError, DecodeError
from .processor import Registry
from .task import Task
from .wire import TaskMessage, decode_stored_task

__all__ = ["LeaseExpiredError", "Recoverer"]


class LeaseExpiredError(Exception):
    """The error recorded on a task whose lease ran out (Go's ErrLeaseExpired)."""

    def __init__(self) -> None:
        super().__init__("asynq: task lease expired")


class Recoverer:
    """One step recovers every queue this server consumes."""

    def __init__(
        self,
        broker: AsyncBroker,
        config: ServerConfig,
        clock: Clock,
        registry: Registry,
        logger: logging.Logger,
    ) -> None:
        self._broker = broker
        self._config = config
        self._queues = sorted(config.effective_queues())
        self._clock = clock
        self._registry = registry
        self._log = logger

    async def step(self) -> int:
        """Recover expired leases and stale aggregation sets; return how many tasks were recovered."""
        now = self._clock.now()
        await self._broker.run(rdb.reclaim(self._queues, now=now))
        expired = await self._broker.run(
            rdb.list_lease_expired(self._queues, cutoff=now - self._config.recoverer_cutoff_s)
        )
        recovered = 0
        for queue, task_id, data in expired:
            running = self._registry.get(task_id)
            if running is not None and not running.lost:
                continue  # ours and alive: the heartbeat will extend it
            try:
                await self._recover(queue, task_id, data, now)
                recovered += 1
            except AsynqError as exc:
                self._log.warning("could not recover task %s in queue %s: %s", task_id, queue, exc)
        return recovered

    async def _recover(self, queue: str, task_id: str, data: bytes, now: float) -> None:
        if not data:
            await self._broker.run(rdb.drop_active(queue, task_id))
            return
        try:
            msg = decode_stored_task(data, queue, task_id)
        except DecodeError as exc:
            self._log.error("archiving undecodable task %s in queue %s: %s", task_id, queue, exc)
            stub = TaskMessage(type="", id=task_id, queue=queue)
            await self._broker.execute(rdb.archive_call(stub, now=now, raw=data))
            return
        error = LeaseExpiredError()
        msg.error_msg = str(error)
        msg.last_failed_at = int(now)
        if msg.retried >= msg.retry:
            await self._broker.run(rdb.archive(msg, now=now))
            return
        task = Task(msg.type, msg.payload, headers=msg.headers)
        delay = self._config.retry_delay_func(msg.retried, error, task)
        is_failure = self._config.is_failure(error)
        if is_failure:
            msg.retried += 1
        await self._broker.run(rdb.retry(msg, now=now, retry_at=now + delay, is_failure=is_failure))
