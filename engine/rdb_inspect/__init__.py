"""Plans for the inspector: reads and admin changes of queues, tasks, servers and schedulers.

Follows Go asynq's ``internal/rdb/inspect.go`` (docs/wire.md §4.2-4.3). Every queue operation except
pause, unpause and cancel first checks that the queue exists, in the same round trip as its work.
One module per concern, each with the plans it owns:

==========  ======================================================================================
``queue``   queue names, sizes and counters, daily history, groups, pause and unpause
``tasks``   a queue's tasks listed, one task read, found, run, archived, deleted, given a payload
``bulk``    every task of a state run, archived or deleted in chunks; a whole queue removed
``fleet``   live servers with their workers, scheduler entries and their enqueue events
``nodes``   the Redis nodes' ``INFO``, a queue's Cluster slot and nodes
``guard``   the queue-exists check that opens the queue operations
==========  ======================================================================================
"""

from __future__ import annotations

from .bulk import ARCHIVE_CHUNK, BULK_CHUNK, Progress, archive_all, delete_all, delete_queue, run_all
from .fleet import list_scheduler_events, scheduler_entries, servers
from .nodes import cluster_key_slot, cluster_nodes, redis_info, redis_info_by_node
from .queue import get_queue_info, groups, history, pause_queue, queue_infos, queues, unpause_queue
from .tasks import (
    archive_task,
    cancel_processing,
    delete_task,
    find_task,
    get_task_info,
    list_tasks,
    run_task,
    update_task_payload,
)

__all__ = [
    "ARCHIVE_CHUNK",
    "BULK_CHUNK",
    "Progress",
    "archive_all",
    "archive_task",
    "cancel_processing",
    "cluster_key_slot",
    "cluster_nodes",
    "delete_all",
    "delete_queue",
    "delete_task",
    "find_task",
    "get_queue_info",
    "get_task_info",
    "groups",
    "history",
    "list_scheduler_events",
    "list_tasks",
    "pause_queue",
    "queue_infos",
    "queues",
    "redis_info",
    "redis_info_by_node",
    "run_all",
    "run_task",
    "scheduler_entries",
    "servers",
    "unpause_queue",
    "update_task_payload",
]
