"""Every Redis key, channel and prefix name of the asynq layout (docs/wire.md §2).

This is the only module that spells ``asynq:``; everything else builds keys here.
Per-queue keys carry the queue name in braces, a Redis Cluster hash tag, so all keys of one
queue live in the same slot.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "ALL_QUEUES",
    "ALL_SCHEDULERS",
    "ALL_SERVERS",
    "ALL_WORKERS",
    "CANCEL_CHANNEL",
    "KEY_PREFIX",
    "WAKE_CHANNEL_PREFIX",
    "active_key",
    "aggregation_set_key",
    "aggregation_sets_key",
    "archived_key",
    "completed_key",
    "failed_key",
    "failed_total_key",
    "group_key",
    "group_key_prefix",
    "groups_key",
    "lease_key",
    "limit_key_prefix",
    "limits_key",
    "parked_key",
    "parked_types_key",
    "paused_key",
    "pending_key",
    "processed_key",
    "processed_total_key",
    "queue_key_prefix",
    "rate_state_key",
    "retry_key",
    "scheduled_key",
    "scheduler_entries_key",
    "scheduler_history_key",
    "server_info_key",
    "server_marker_key",
    "state_key",
    "task_key",
    "task_key_prefix",
    "throttled_key",
    "throttled_total_key",
    "type_active_key",
    "unique_key",
    "wake_channel",
    "wake_list_key",
    "workers_key",
]

KEY_PREFIX = "asynq:"
"""Every asynq key starts with this."""

ALL_QUEUES = "asynq:queues"
"""SET of queue names."""
ALL_SERVERS = "asynq:servers"
"""ZSET of server-info keys scored by expiry (Unix seconds)."""
ALL_WORKERS = "asynq:workers"
"""ZSET of worker-hash keys scored by expiry (Unix seconds)."""
ALL_SCHEDULERS = "asynq:schedulers"
"""ZSET of scheduler-entry keys scored by expiry (Unix seconds)."""
CANCEL_CHANNEL = "asynq:cancel"
"""Pub/Sub channel; a message is the id of a task to cancel."""
WAKE_CHANNEL_PREFIX = "asynq:wake:"
"""asynq-py's own Pub/Sub channels telling idle servers a queue has work (not part of Go's layout)."""


def queue_key_prefix(queue: str) -> str:
    """Return ``asynq:{<queue>}:``, the prefix of every key of one queue."""
    return f"asynq:{{{queue}}}:"


def task_key_prefix(queue: str) -> str:
    """Return the prefix of the queue's task hashes."""
    return f"asynq:{{{queue}}}:t:"


def group_key_prefix(queue: str) -> str:
    """Return the prefix of the queue's group zsets."""
    return f"asynq:{{{queue}}}:g:"


def task_key(queue: str, task_id: str) -> str:
    """HASH holding one task's ``msg``, ``state`` and friends."""
    return f"asynq:{{{queue}}}:t:{task_id}"


def pending_key(queue: str) -> str:
    """LIST of pending task ids (LPUSH in, RPOPLPUSH out)."""
    return f"asynq:{{{queue}}}:pending"


def active_key(queue: str) -> str:
    """LIST of ids being processed."""
    return f"asynq:{{{queue}}}:active"


def lease_key(queue: str) -> str:
    """ZSET of active ids scored by lease expiry (Unix seconds)."""
    return f"asynq:{{{queue}}}:lease"


def scheduled_key(queue: str) -> str:
    """ZSET of scheduled ids scored by process time (Unix seconds)."""
    return f"asynq:{{{queue}}}:scheduled"


def retry_key(queue: str) -> str:
    """ZSET of ids waiting to retry, scored by retry time (Unix seconds)."""
    return f"asynq:{{{queue}}}:retry"


def archived_key(queue: str) -> str:
    """ZSET of archived ids scored by archive time (Unix seconds)."""
    return f"asynq:{{{queue}}}:archived"


def completed_key(queue: str) -> str:
    """ZSET of completed ids scored by retention expiry (Unix seconds)."""
    return f"asynq:{{{queue}}}:completed"


def state_key(queue: str, state: str) -> str:
    """Return the container key of a state held in a zset or list (``pending``, ``retry``, ...)."""
    return f"asynq:{{{queue}}}:{state}"


def paused_key(queue: str) -> str:
    """STRING present while the queue is paused (value: Unix seconds of the pause)."""
    return f"asynq:{{{queue}}}:paused"


def processed_total_key(queue: str) -> str:
    """STRING counter of all processed tasks."""
    return f"asynq:{{{queue}}}:processed"


def failed_total_key(queue: str) -> str:
    """STRING counter of all failed tasks."""
    return f"asynq:{{{queue}}}:failed"


def processed_key(queue: str, when: datetime) -> str:
    """STRING counter of tasks processed on the UTC date of ``when`` (expires after 90 days)."""
    return f"asynq:{{{queue}}}:processed:{when:%Y-%m-%d}"


def failed_key(queue: str, when: datetime) -> str:
    """STRING counter of tasks failed on the UTC date of ``when`` (expires after 90 days)."""
    return f"asynq:{{{queue}}}:failed:{when:%Y-%m-%d}"


def unique_key(queue: str, task_type: str, checksum: str) -> str:
    """STRING uniqueness lock; ``checksum`` is the MD5 hex of the payload, or "" for no payload."""
    return f"asynq:{{{queue}}}:unique:{task_type}:{checksum}"


def throttled_total_key(queue: str) -> str:
    """STRING counter of all tasks rescheduled by ``RateLimited`` (asynq-py only)."""
    return f"asynq:{{{queue}}}:throttled"


def throttled_key(queue: str, when: datetime) -> str:
    """STRING counter of tasks throttled on the UTC date of ``when`` (expires after 90 days)."""
    return f"asynq:{{{queue}}}:throttled:{when:%Y-%m-%d}"


def limits_key(queue: str) -> str:
    """HASH of the queue's flow-control limits (asynq-py only, docs/wire.md §2.3)."""
    return f"asynq:{{{queue}}}:limits"


def limit_key_prefix(queue: str) -> str:
    """Return the prefix of the queue's flow-control state keys (the dequeue script builds them on it)."""
    return f"asynq:{{{queue}}}:limit:"


def rate_state_key(queue: str, task_type: str | None = None) -> str:
    """STRING GCRA state (theoretical arrival time, ms on Redis's clock) of a queue or type rate."""
    base = f"asynq:{{{queue}}}:limit:rate"
    return base if task_type is None else f"{base}:{task_type}"


def type_active_key(queue: str, task_type: str) -> str:
    """ZSET of ids holding a slot of ``task_type``'s concurrency limit, scored by lease expiry."""
    return f"asynq:{{{queue}}}:limit:active:{task_type}"


def parked_types_key(queue: str) -> str:
    """SET of the task types whose parked list is not empty."""
    return f"asynq:{{{queue}}}:limit:parked_types"


def parked_key(queue: str, task_type: str) -> str:
    """LIST of pending ids set aside because ``task_type`` was at its limit (oldest on the right)."""
    return f"asynq:{{{queue}}}:limit:parked:{task_type}"


def groups_key(queue: str) -> str:
    """SET of group names with tasks waiting for aggregation."""
    return f"asynq:{{{queue}}}:groups"


def group_key(queue: str, group: str) -> str:
    """ZSET of a group's task ids scored by the time they were added (Unix seconds)."""
    return f"asynq:{{{queue}}}:g:{group}"


def aggregation_set_key(queue: str, group: str, set_id: str) -> str:
    """ZSET of the task ids taken out of a group for one aggregation."""
    return f"asynq:{{{queue}}}:g:{group}:{set_id}"


def aggregation_sets_key(queue: str) -> str:
    """ZSET of aggregation-set keys scored by their deadline (Unix seconds)."""
    return f"asynq:{{{queue}}}:aggregation_sets"


def server_info_key(host: str, pid: int, server_id: str) -> str:
    """STRING holding a server's protobuf ``ServerInfo`` (TTL 10 s)."""
    return f"asynq:servers:{{{host}:{pid}:{server_id}}}"


def server_marker_key(host: str, pid: int, server_id: str) -> str:
    """STRING ``asynq-py`` beside an asynq-py server's info, with the same TTL (asynq-py only).

    A live server without it is a Go asynq server, which does not enforce flow-control limits.
    """
    return f"asynq:servers:{{{host}:{pid}:{server_id}}}:impl"


def workers_key(host: str, pid: int, server_id: str) -> str:
    """HASH of task id to protobuf ``WorkerInfo`` for one server (TTL 10 s)."""
    return f"asynq:workers:{{{host}:{pid}:{server_id}}}"


def scheduler_entries_key(scheduler_id: str) -> str:
    """LIST of a scheduler's protobuf ``SchedulerEntry`` items (TTL 20 s)."""
    return f"asynq:schedulers:{{{scheduler_id}}}"


def scheduler_history_key(entry_id: str) -> str:
    """ZSET of ``SchedulerEnqueueEvent`` items of one entry, scored by enqueue time (no hash tag)."""
    return f"asynq:scheduler_history:{entry_id}"


def wake_channel(queue: str) -> str:
    """Return the Pub/Sub channel that wakes idle asynq-py servers consuming ``queue``."""
    return f"{WAKE_CHANNEL_PREFIX}{queue}"


def wake_list_key(queue: str) -> str:
    """LIST of at most one token an idle asynq-py server blocks on (asynq-py only; TTL 10 s)."""
    return f"asynq:{{{queue}}}:wake"
