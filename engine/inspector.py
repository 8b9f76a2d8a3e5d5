"""``Inspector`` and ``AsyncInspector``: read and change queues, tasks, servers and schedulers.

The two are twins with the same methods in the same order; each method runs one plan from
``rdb_inspect``. Every method raises only ``AsynqError`` subclasses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from . import rdb_inspect  # rdb_limits, with the limit records, is imported by the limit methods
from .broker import AsyncBroker, Broker, RedisLike
from .clock import Clock, RealClock
from .task import TaskInfo, TaskState

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from .info import (
        BulkProgress,
        DailyStats,
        GroupInfo,
        LimitsInfo,
        QueueInfo,
        SchedulerEnqueueEvent,
        SchedulerEntryInfo,
        ServerInfo,
    )
    from .limits import QueueLimits, Rate

__all__ = ["AsyncInspector", "Inspector"]


class Inspector:
    """Reads and changes asynq's state in Redis (blocking).

    Args:
        redis: A Redis URL, a ``RedisConnOpt``, or a ``redis.Redis`` client (not closed by ``close``).
        clock: Time source (default the system clock).
    """

    def __init__(self, redis: RedisLike | None = None, *, clock: Clock | None = None) -> None:
        self._broker = Broker(redis)
        self._now = (clock or RealClock()).now

    def queues(self) -> list[str]:
        """Return every queue name, sorted."""
        return self._broker.run(rdb_inspect.queues())

    def groups(self, queue: str) -> list[GroupInfo]:
        """Return the queue's aggregation groups and their sizes; raises ``QueueNotFoundError``."""
        return self._broker.run(rdb_inspect.groups(queue))

    def get_queue_info(self, queue: str) -> QueueInfo:
        """Return the queue's sizes per state and counters; raises ``QueueNotFoundError``."""
        return self._broker.run(rdb_inspect.get_queue_info(queue, now=self._now()))

    def queue_infos(self) -> list[QueueInfo]:
        """Return every queue's info, sorted by name, read in one pipelined round trip."""
        return self._broker.run(rdb_inspect.queue_infos(now=self._now()))

    def history(self, queue: str, days: int = 7) -> list[DailyStats]:
        """Return processed and failed counts per UTC day, today first; raises ``QueueNotFoundError``."""
        return self._broker.run(rdb_inspect.history(queue, days, now=self._now()))

    def delete_queue(self, queue: str, *, force: bool = False) -> None:
        """Remove a queue; without ``force`` it must be empty.

        Raises:
            QueueNotFoundError: no such queue.
            QueueNotEmptyError: it has tasks and ``force`` is False.
            TaskStateError: it has active tasks."""
        return self._broker.run(rdb_inspect.delete_queue(queue, force=force))

    def get_task_info(self, queue: str, task_id: str) -> TaskInfo:
        """Return one task; raises ``QueueNotFoundError`` or ``TaskNotFoundError``."""
        return self._broker.run(rdb_inspect.get_task_info(queue, task_id, now=self._now()))

    def list_tasks(
        self,
        queue: str,
        state: TaskState | str,
        *,
        group: str | None = None,
        page: int = 1,
        page_size: int = 30,
    ) -> list[TaskInfo]:
        """Return one page (1-based) of the queue's tasks in ``state`` (aggregating needs ``group``)."""
        return self._broker.run(
            rdb_inspect.list_tasks(
                queue, TaskState(state), group=group, page=page, page_size=page_size, now=self._now()
            )
        )

    def list_pending_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of pending tasks, next to run first."""
        return self._broker.run(
            rdb_inspect.list_tasks(queue, TaskState.PENDING, page=page, page_size=page_size, now=self._now())
        )

    def list_active_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of active tasks; ``is_orphaned`` marks expired leases."""
        return self._broker.run(
            rdb_inspect.list_tasks(queue, TaskState.ACTIVE, page=page, page_size=page_size, now=self._now())
        )

    def list_aggregating_tasks(
        self, queue: str, group: str, *, page: int = 1, page_size: int = 30
    ) -> list[TaskInfo]:
        """Return one page of a group's tasks, oldest first."""
        return self._broker.run(
            rdb_inspect.list_tasks(
                queue, TaskState.AGGREGATING, group=group, page=page, page_size=page_size, now=self._now()
            )
        )

    def list_scheduled_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of scheduled tasks, soonest first."""
        return self._broker.run(
            rdb_inspect.list_tasks(
                queue, TaskState.SCHEDULED, page=page, page_size=page_size, now=self._now()
            )
        )

    def list_retry_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of tasks waiting to retry, soonest first."""
        return self._broker.run(
            rdb_inspect.list_tasks(queue, TaskState.RETRY, page=page, page_size=page_size, now=self._now())
        )

    def list_archived_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of archived tasks, oldest archived first."""
        return self._broker.run(
            rdb_inspect.list_tasks(queue, TaskState.ARCHIVED, page=page, page_size=page_size, now=self._now())
        )

    def list_completed_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of completed tasks, soonest to expire first."""
        return self._broker.run(
            rdb_inspect.list_tasks(
                queue, TaskState.COMPLETED, page=page, page_size=page_size, now=self._now()
            )
        )

    def run_task(self, queue: str, task_id: str) -> None:
        """Move a scheduled, retry, archived, completed or aggregating task to pending.

        Raises:
            QueueNotFoundError: no such queue.
            TaskNotFoundError: no such task.
            TaskStateError: the task is active or already pending."""
        return self._broker.run(rdb_inspect.run_task(queue, task_id))

    def archive_task(self, queue: str, task_id: str) -> None:
        """Archive a task that is not active.

        Raises:
            QueueNotFoundError: no such queue.
            TaskNotFoundError: no such task.
            TaskStateError: the task is active or already archived."""
        return self._broker.run(rdb_inspect.archive_task(queue, task_id, now=self._now()))

    def delete_task(self, queue: str, task_id: str) -> None:
        """Delete a task that is not active, releasing its unique lock.

        Raises:
            QueueNotFoundError: no such queue.
            TaskNotFoundError: no such task.
            TaskStateError: the task is active."""
        return self._broker.run(rdb_inspect.delete_task(queue, task_id))

    def update_task_payload(self, queue: str, task_id: str, payload: bytes) -> None:
        """Replace a scheduled task's payload; raises ``TaskNotFoundError`` or ``TaskStateError``."""
        return self._broker.run(rdb_inspect.update_task_payload(queue, task_id, payload, now=self._now()))

    def run_all_tasks(
        self,
        queue: str,
        state: TaskState | str,
        *,
        group: str | None = None,
        progress: Callable[[BulkProgress], None] | None = None,
    ) -> int:
        """Move every scheduled, retry, archived or aggregating task to pending; return how many.

        Works in chunks; ``progress`` is called after each with the figures so far."""
        return self._broker.run(rdb_inspect.run_all(queue, TaskState(state), group=group, progress=progress))

    def archive_all_tasks(
        self,
        queue: str,
        state: TaskState | str,
        *,
        group: str | None = None,
        progress: Callable[[BulkProgress], None] | None = None,
    ) -> int:
        """Archive every task of a state (pending, scheduled, retry, aggregating); return how many.

        Works in chunks; ``progress`` is called after each with the figures so far, including the
        archived tasks the archive's limits deleted (``dropped``)."""
        return self._broker.run(
            rdb_inspect.archive_all(queue, TaskState(state), group=group, now=self._now(), progress=progress)
        )

    def delete_all_tasks(
        self,
        queue: str,
        state: TaskState | str,
        *,
        group: str | None = None,
        progress: Callable[[BulkProgress], None] | None = None,
    ) -> int:
        """Delete every task of a state (any but active); return how many.

        Works in chunks; ``progress`` is called after each with the figures so far."""
        return self._broker.run(
            rdb_inspect.delete_all(queue, TaskState(state), group=group, progress=progress)
        )

    def run_all_scheduled_tasks(self, queue: str) -> int:
        """Move every scheduled task to pending; return how many."""
        return self._broker.run(rdb_inspect.run_all(queue, TaskState.SCHEDULED))

    def run_all_retry_tasks(self, queue: str) -> int:
        """Move every retry task to pending; return how many."""
        return self._broker.run(rdb_inspect.run_all(queue, TaskState.RETRY))

    def run_all_archived_tasks(self, queue: str) -> int:
        """Move every archived task to pending; return how many."""
        return self._broker.run(rdb_inspect.run_all(queue, TaskState.ARCHIVED))

    def run_all_aggregating_tasks(self, queue: str, group: str) -> int:
        """Move every task of a group to pending; return how many."""
        return self._broker.run(rdb_inspect.run_all(queue, TaskState.AGGREGATING, group=group))

    def archive_all_pending_tasks(self, queue: str) -> int:
        """Archive every pending task; return how many."""
        return self._broker.run(rdb_inspect.archive_all(queue, TaskState.PENDING, now=self._now()))

    def archive_all_scheduled_tasks(self, queue: str) -> int:
        """Archive every scheduled task; return how many."""
        return self._broker.run(rdb_inspect.archive_all(queue, TaskState.SCHEDULED, now=self._now()))

    def archive_all_retry_tasks(self, queue: str) -> int:
        """Archive every retry task; return how many."""
        return self._broker.run(rdb_inspect.archive_all(queue, TaskState.RETRY, now=self._now()))

    def archive_all_aggregating_tasks(self, queue: str, group: str) -> int:
        """Archive every task of a group; return how many."""
        return self._broker.run(
            rdb_inspect.archive_all(queue, TaskState.AGGREGATING, group=group, now=self._now())
        )

    def delete_all_pending_tasks(self, queue: str) -> int:
        """Delete every pending task; return how many."""
        return self._broker.run(rdb_inspect.delete_all(queue, TaskState.PENDING))

    def delete_all_scheduled_tasks(self, queue: str) -> int:
        """Delete every scheduled task; return how many."""
        return self._broker.run(rdb_inspect.delete_all(queue, TaskState.SCHEDULED))

    def delete_all_retry_tasks(self, queue: str) -> int:
        """Delete every retry task; return how many."""
        return self._broker.run(rdb_inspect.delete_all(queue, TaskState.RETRY))

    def delete_all_archived_tasks(self, queue: str) -> int:
        """Delete every archived task; return how many."""
        return self._broker.run(rdb_inspect.delete_all(queue, TaskState.ARCHIVED))

    def delete_all_completed_tasks(self, queue: str) -> int:
        """Delete every completed task; return how many."""
        return self._broker.run(rdb_inspect.delete_all(queue, TaskState.COMPLETED))

    def delete_all_aggregating_tasks(self, queue: str, group: str) -> int:
        """Delete every task of a group; return how many."""
        return self._broker.run(rdb_inspect.delete_all(queue, TaskState.AGGREGATING, group=group))

    def pause_queue(self, queue: str) -> None:
        """Stop servers from taking the queue's pending tasks; raises ``TaskStateError`` if already paused."""
        return self._broker.run(rdb_inspect.pause_queue(queue, now=self._now()))

    def unpause_queue(self, queue: str) -> bool:
        """Let servers take the queue's tasks again; raises ``TaskStateError`` if not paused.

        Returns whether idle asynq-py servers were woken at once (True too when nothing is pending);
        False when Redis denied the wake channel (servers that cannot block on the wake list then
        pick the queue up at their next poll)."""
        return self._broker.run(rdb_inspect.unpause_queue(queue))

    def set_queue_limits(
        self,
        queue: str,
        *,
        task_type: str | None = None,
        concurrency: int | None = None,
        rate: Rate | str | None = None,
        burst: int | None = None,
    ) -> QueueLimits:
        """Limit the queue (or ``task_type`` in it) across every asynq-py server; return all its limits.

        Only the parts given change (a new ``rate`` such as ``"100/m"`` keeps the current burst);
        servers apply the change at their next dequeue. The queue is created if it does not exist.

        Raises:
            ValidationError: nothing given, a value out of range, or a burst without a rate.
            DecodeError: the stored limits are corrupt (``remove_queue_limits`` clears them)."""
        from . import rdb_limits

        return self._broker.run(
            rdb_limits.set_queue_limits(
                queue, task_type=task_type, concurrency=concurrency, rate=rate, burst=burst
            )
        )

    def remove_queue_limits(self, queue: str, *, task_type: str | None = None) -> None:
        """Remove every limit of the queue, or only ``task_type``'s; raises ``LimitNotFoundError``."""
        from . import rdb_limits

        return self._broker.run(rdb_limits.remove_queue_limits(queue, task_type=task_type))

    def get_queue_limits(self, queue: str) -> LimitsInfo:
        """Return the queue's limits, their use and its throttle counters.

        A queue need not exist yet: a server's ``ServerConfig.limits`` may limit it before its first task."""
        from . import rdb_limits

        return self._broker.run(rdb_limits.get_queue_limits(queue, now=self._now()))

    def list_queue_limits(self) -> list[LimitsInfo]:
        """Return every queue's limits and use (queues without limits too), sorted by name."""
        from . import rdb_limits

        return self._broker.run(rdb_limits.list_queue_limits(now=self._now()))

    def cancel_processing(self, task_id: str) -> None:
        """Ask the server running ``task_id`` to cancel it (best effort: a Pub/Sub message)."""
        return self._broker.run(rdb_inspect.cancel_processing(task_id))

    def servers(self) -> list[ServerInfo]:
        """Return the servers with a live heartbeat and the tasks they are running."""
        return self._broker.run(rdb_inspect.servers(now=self._now()))

    def scheduler_entries(self) -> list[SchedulerEntryInfo]:
        """Return the periodic-task entries of every live scheduler."""
        return self._broker.run(rdb_inspect.scheduler_entries(now=self._now()))

    def list_scheduler_enqueue_events(
        self, entry_id: str, *, page: int = 1, page_size: int = 30
    ) -> list[SchedulerEnqueueEvent]:
        """Return one page of a scheduler entry's enqueue events, newest first."""
        return self._broker.run(rdb_inspect.list_scheduler_events(entry_id, page=page, page_size=page_size))

    def find_task(self, task_id: str) -> list[TaskInfo]:
        """Return the task with this id in every queue that has one (usually zero or one)."""
        return self._broker.run(rdb_inspect.find_task(task_id, now=self._now()))

    def redis_info(self) -> dict[str, str]:
        """Return the Redis server's ``INFO`` fields (version, memory, clients, ...)."""
        return self._broker.run(rdb_inspect.redis_info())

    def redis_info_by_node(self) -> dict[str, dict[str, str]]:
        """Return the ``INFO`` fields of every cluster primary by "host:port" (one entry, named "",
        outside a cluster)."""
        return self._broker.run(rdb_inspect.redis_info_by_node())

    def cluster_key_slot(self, queue: str) -> int:
        """Return the Redis Cluster hash slot of the queue; raises ``BrokerError`` outside a cluster."""
        return self._broker.run(rdb_inspect.cluster_key_slot(queue))

    def cluster_nodes(self, queue: str) -> list[tuple[str, str]]:
        """Return (node id, address) of the cluster nodes serving the queue's slot."""
        return self._broker.run(rdb_inspect.cluster_nodes(queue))

    def close(self) -> None:
        """Close the connection pool (unless the Redis client was passed in)."""
        self._broker.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncInspector:
    """Reads and changes asynq's state in Redis (asyncio); the same methods as ``Inspector``.

    Args:
        redis: A Redis URL, a ``RedisConnOpt``, or a ``redis.asyncio.Redis`` client.
        clock: Time source (default the system clock).
    """

    def __init__(self, redis: RedisLike | None = None, *, clock: Clock | None = None) -> None:
        self._broker = AsyncBroker(redis)
        self._now = (clock or RealClock()).now

    async def queues(self) -> list[str]:
        """Return every queue name, sorted."""
        return await self._broker.run(rdb_inspect.queues())

    async def groups(self, queue: str) -> list[GroupInfo]:
        """Return the queue's aggregation groups and their sizes; raises ``QueueNotFoundError``."""
        return await self._broker.run(rdb_inspect.groups(queue))

    async def get_queue_info(self, queue: str) -> QueueInfo:
        """Return the queue's sizes per state and counters; raises ``QueueNotFoundError``."""
        return await self._broker.run(rdb_inspect.get_queue_info(queue, now=self._now()))

    async def queue_infos(self) -> list[QueueInfo]:
        """Return every queue's info, sorted by name, read in one pipelined round trip."""
        return await self._broker.run(rdb_inspect.queue_infos(now=self._now()))

    async def history(self, queue: str, days: int = 7) -> list[DailyStats]:
        """Return processed and failed counts per UTC day, today first; raises ``QueueNotFoundError``."""
        return await self._broker.run(rdb_inspect.history(queue, days, now=self._now()))

    async def delete_queue(self, queue: str, *, force: bool = False) -> None:
        """Remove a queue; without ``force`` it must be empty.

        Raises:
            QueueNotFoundError: no such queue.
            QueueNotEmptyError: it has tasks and ``force`` is False.
            TaskStateError: it has active tasks."""
        return await self._broker.run(rdb_inspect.delete_queue(queue, force=force))

    async def get_task_info(self, queue: str, task_id: str) -> TaskInfo:
        """Return one task; raises ``QueueNotFoundError`` or ``TaskNotFoundError``."""
        return await self._broker.run(rdb_inspect.get_task_info(queue, task_id, now=self._now()))

    async def list_tasks(
        self,
        queue: str,
        state: TaskState | str,
        *,
        group: str | None = None,
        page: int = 1,
        page_size: int = 30,
    ) -> list[TaskInfo]:
        """Return one page (1-based) of the queue's tasks in ``state`` (aggregating needs ``group``)."""
        return await self._broker.run(
            rdb_inspect.list_tasks(
                queue, TaskState(state), group=group, page=page, page_size=page_size, now=self._now()
            )
        )

    async def list_pending_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of pending tasks, next to run first."""
        return await self._broker.run(
            rdb_inspect.list_tasks(queue, TaskState.PENDING, page=page, page_size=page_size, now=self._now())
        )

    async def list_active_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of active tasks; ``is_orphaned`` marks expired leases."""
        return await self._broker.run(
            rdb_inspect.list_tasks(queue, TaskState.ACTIVE, page=page, page_size=page_size, now=self._now())
        )

    async def list_aggregating_tasks(
        self, queue: str, group: str, *, page: int = 1, page_size: int = 30
    ) -> list[TaskInfo]:
        """Return one page of a group's tasks, oldest first."""
        return await self._broker.run(
            rdb_inspect.list_tasks(
                queue, TaskState.AGGREGATING, group=group, page=page, page_size=page_size, now=self._now()
            )
        )

    async def list_scheduled_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of scheduled tasks, soonest first."""
        return await self._broker.run(
            rdb_inspect.list_tasks(
                queue, TaskState.SCHEDULED, page=page, page_size=page_size, now=self._now()
            )
        )

    async def list_retry_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of tasks waiting to retry, soonest first."""
        return await self._broker.run(
            rdb_inspect.list_tasks(queue, TaskState.RETRY, page=page, page_size=page_size, now=self._now())
        )

    async def list_archived_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of archived tasks, oldest archived first."""
        return await self._broker.run(
            rdb_inspect.list_tasks(queue, TaskState.ARCHIVED, page=page, page_size=page_size, now=self._now())
        )

    async def list_completed_tasks(self, queue: str, *, page: int = 1, page_size: int = 30) -> list[TaskInfo]:
        """Return one page of completed tasks, soonest to expire first."""
        return await self._broker.run(
            rdb_inspect.list_tasks(
                queue, TaskState.COMPLETED, page=page, page_size=page_size, now=self._now()
            )
        )

    async def run_task(self, queue: str, task_id: str) -> None:
        """Move a scheduled, retry, archived, completed or aggregating task to pending.

        Raises:
            QueueNotFoundError: no such queue.
            TaskNotFoundError: no such task.
            TaskStateError: the task is active or already pending."""
        return await self._broker.run(rdb_inspect.run_task(queue, task_id))

    async def archive_task(self, queue: str, task_id: str) -> None:
        """Archive a task that is not active.

        Raises:
            QueueNotFoundError: no such queue.
            TaskNotFoundError: no such task.
            TaskStateError: the task is active or already archived."""
        return await self._broker.run(rdb_inspect.archive_task(queue, task_id, now=self._now()))

    async def delete_task(self, queue: str, task_id: str) -> None:
        """Delete a task that is not active, releasing its unique lock.

        Raises:
            QueueNotFoundError: no such queue.
            TaskNotFoundError: no such task.
            TaskStateError: the task is active."""
        return await self._broker.run(rdb_inspect.delete_task(queue, task_id))

    async def update_task_payload(self, queue: str, task_id: str, payload: bytes) -> None:
        """Replace a scheduled task's payload; raises ``TaskNotFoundError`` or ``TaskStateError``."""
        return await self._broker.run(
            rdb_inspect.update_task_payload(queue, task_id, payload, now=self._now())
        )

    async def run_all_tasks(
        self,
        queue: str,
        state: TaskState | str,
        *,
        group: str | None = None,
        progress: Callable[[BulkProgress], None] | None = None,
    ) -> int:
        """Move every scheduled, retry, archived or aggregating task to pending; return how many.

        Works in chunks; ``progress`` is called after each with the figures so far."""
        return await self._broker.run(
            rdb_inspect.run_all(queue, TaskState(state), group=group, progress=progress)
        )

    async def archive_all_tasks(
        self,
        queue: str,
        state: TaskState | str,
        *,
        group: str | None = None,
        progress: Callable[[BulkProgress], None] | None = None,
    ) -> int:
        """Archive every task of a state (pending, scheduled, retry, aggregating); return how many.

        Works in chunks; ``progress`` is called after each with the figures so far, including the
        archived tasks the archive's limits deleted (``dropped``)."""
        return await self._broker.run(
            rdb_inspect.archive_all(queue, TaskState(state), group=group, now=self._now(), progress=progress)
        )

    async def delete_all_tasks(
        self,
        queue: str,
        state: TaskState | str,
        *,
        group: str | None = None,
        progress: Callable[[BulkProgress], None] | None = None,
    ) -> int:
        """Delete every task of a state (any but active); return how many.

        Works in chunks; ``progress`` is called after each with the figures so far."""
        return await self._broker.run(
            rdb_inspect.delete_all(queue, TaskState(state), group=group, progress=progress)
        )

    async def run_all_scheduled_tasks(self, queue: str) -> int:
        """Move every scheduled task to pending; return how many."""
        return await self._broker.run(rdb_inspect.run_all(queue, TaskState.SCHEDULED))

    async def run_all_retry_tasks(self, queue: str) -> int:
        """Move every retry task to pending; return how many."""
        return await self._broker.run(rdb_inspect.run_all(queue, TaskState.RETRY))

    async def run_all_archived_tasks(self, queue: str) -> int:
        """Move every archived task to pending; return how many."""
        return await self._broker.run(rdb_inspect.run_all(queue, TaskState.ARCHIVED))

    async def run_all_aggregating_tasks(self, queue: str, group: str) -> int:
        """Move every task of a group to pending; return how many."""
        return await self._broker.run(rdb_inspect.run_all(queue, TaskState.AGGREGATING, group=group))

    async def archive_all_pending_tasks(self, queue: str) -> int:
        """Archive every pending task; return how many."""
        return await self._broker.run(rdb_inspect.archive_all(queue, TaskState.PENDING, now=self._now()))

    async def archive_all_scheduled_tasks(self, queue: str) -> int:
        """Archive every scheduled task; return how many."""
        return await self._broker.run(rdb_inspect.archive_all(queue, TaskState.SCHEDULED, now=self._now()))

    async def archive_all_retry_tasks(self, queue: str) -> int:
        """Archive every retry task; return how many."""
        return await self._broker.run(rdb_inspect.archive_all(queue, TaskState.RETRY, now=self._now()))

    async def archive_all_aggregating_tasks(self, queue: str, group: str) -> int:
        """Archive every task of a group; return how many."""
        return await self._broker.run(
            rdb_inspect.archive_all(queue, TaskState.AGGREGATING, group=group, now=self._now())
        )

    async def delete_all_pending_tasks(self, queue: str) -> int:
        """Delete every pending task; return how many."""
        return await self._broker.run(rdb_inspect.delete_all(queue, TaskState.PENDING))

    async def delete_all_scheduled_tasks(self, queue: str) -> int:
        """Delete every scheduled task; return how many."""
        return await self._broker.run(rdb_inspect.delete_all(queue, TaskState.SCHEDULED))

    async def delete_all_retry_tasks(self, queue: str) -> int:
        """Delete every retry task; return how many."""
        return await self._broker.run(rdb_inspect.delete_all(queue, TaskState.RETRY))

    async def delete_all_archived_tasks(self, queue: str) -> int:
        """Delete every archived task; return how many."""
        return await self._broker.run(rdb_inspect.delete_all(queue, TaskState.ARCHIVED))

    async def delete_all_completed_tasks(self, queue: str) -> int:
        """Delete every completed task; return how many."""
        return await self._broker.run(rdb_inspect.delete_all(queue, TaskState.COMPLETED))

    async def delete_all_aggregating_tasks(self, queue: str, group: str) -> int:
        """Delete every task of a group; return how many."""
        return await self._broker.run(rdb_inspect.delete_all(queue, TaskState.AGGREGATING, group=group))

    async def pause_queue(self, queue: str) -> None:
        """Stop servers from taking the queue's pending tasks; raises ``TaskStateError`` if already paused."""
        return await self._broker.run(rdb_inspect.pause_queue(queue, now=self._now()))

    async def unpause_queue(self, queue: str) -> bool:
        """Let servers take the queue's tasks again; raises ``TaskStateError`` if not paused.

        Returns whether idle asynq-py servers were woken at once (True too when nothing is pending);
        False when Redis denied the wake channel (servers that cannot block on the wake list then
        pick the queue up at their next poll)."""
        return await self._broker.run(rdb_inspect.unpause_queue(queue))

    async def set_queue_limits(
        self,
        queue: str,
        *,
        task_type: str | None = None,
        concurrency: int | None = None,
        rate: Rate | str | None = None,
        burst: int | None = None,
    ) -> QueueLimits:
        """Limit the queue (or ``task_type`` in it) across every asynq-py server; return all its limits.

        Only the parts given change (a new ``rate`` such as ``"100/m"`` keeps the current burst);
        servers apply the change at their next dequeue. The queue is created if it does not exist.

        Raises:
            ValidationError: nothing given, a value out of range, or a burst without a rate.
            DecodeError: the stored limits are corrupt (``remove_queue_limits`` clears them)."""
        from . import rdb_limits

        return await self._broker.run(
            rdb_limits.set_queue_limits(
                queue, task_type=task_type, concurrency=concurrency, rate=rate, burst=burst
            )
        )

    async def remove_queue_limits(self, queue: str, *, task_type: str | None = None) -> None:
        """Remove every limit of the queue, or only ``task_type``'s; raises ``LimitNotFoundError``."""
        from . import rdb_limits

        return await self._broker.run(rdb_limits.remove_queue_limits(queue, task_type=task_type))

    async def get_queue_limits(self, queue: str) -> LimitsInfo:
        """Return the queue's limits, their use and its throttle counters.

        A queue need not exist yet: a server's ``ServerConfig.limits`` may limit it before its first task."""
        from . import rdb_limits

        return await self._broker.run(rdb_limits.get_queue_limits(queue, now=self._now()))

    async def list_queue_limits(self) -> list[LimitsInfo]:
        """Return every queue's limits and use (queues without limits too), sorted by name."""
        from . import rdb_limits

        return await self._broker.run(rdb_limits.list_queue_limits(now=self._now()))

    async def cancel_processing(self, task_id: str) -> None:
        """Ask the server running ``task_id`` to cancel it (best effort: a Pub/Sub message)."""
        return await self._broker.run(rdb_inspect.cancel_processing(task_id))

    async def servers(self) -> list[ServerInfo]:
        """Return the servers with a live heartbeat and the tasks they are running."""
        return await self._broker.run(rdb_inspect.servers(now=self._now()))

    async def scheduler_entries(self) -> list[SchedulerEntryInfo]:
        """Return the periodic-task entries of every live scheduler."""
        return await self._broker.run(rdb_inspect.scheduler_entries(now=self._now()))

    async def list_scheduler_enqueue_events(
        self, entry_id: str, *, page: int = 1, page_size: int = 30
    ) -> list[SchedulerEnqueueEvent]:
        """Return one page of a scheduler entry's enqueue events, newest first."""
        return await self._broker.run(
            rdb_inspect.list_scheduler_events(entry_id, page=page, page_size=page_size)
        )

    async def find_task(self, task_id: str) -> list[TaskInfo]:
        """Return the task with this id in every queue that has one (usually zero or one)."""
        return await self._broker.run(rdb_inspect.find_task(task_id, now=self._now()))

    async def redis_info(self) -> dict[str, str]:
        """Return the Redis server's ``INFO`` fields (version, memory, clients, ...)."""
        return await self._broker.run(rdb_inspect.redis_info())

    async def redis_info_by_node(self) -> dict[str, dict[str, str]]:
        """Return the ``INFO`` fields of every cluster primary by "host:port" (one entry, named "",
        outside a cluster)."""
        return await self._broker.run(rdb_inspect.redis_info_by_node())

    async def cluster_key_slot(self, queue: str) -> int:
        """Return the Redis Cluster hash slot of the queue; raises ``BrokerError`` outside a cluster."""
        return await self._broker.run(rdb_inspect.cluster_key_slot(queue))

    async def cluster_nodes(self, queue: str) -> list[tuple[str, str]]:
        """Return (node id, address) of the cluster nodes serving the queue's slot."""
        return await self._broker.run(rdb_inspect.cluster_nodes(queue))

    async def aclose(self) -> None:
        """Close the connection pool (unless the Redis client was passed in)."""
        await self._broker.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
