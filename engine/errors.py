"""The engine's exceptions: one tree, rooted at ``AsynqError``.

::

    AsynqError
    ├── ValidationError (also ValueError)      bad option, name, or argument
    │   └── PayloadError                       a typed payload getter found no or the wrong value
    ├── DuplicateTaskError                     a unique lock is held by another task
    ├── TaskIdConflictError                    a task with this id already exists in the queue
    ├── QueueNotFoundError                     the queue is not in ``asynq:queues``
    ├── QueueNotEmptyError                     removing a queue that still has tasks
    ├── TaskNotFoundError                      no task with this id in the queue
    ├── LimitNotFoundError                     removing flow-control limits the queue does not have
    ├── TaskStateError                         the task's state forbids the operation
    ├── LifecycleError                         a server or scheduler used out of order (started twice)
    ├── DecodeError                            bytes in Redis are not a valid asynq message
    ├── NotReplicatedError                     written, but fewer replicas than asked acknowledged it
    └── BrokerError                            Redis answered with an error
        └── RedisUnavailableError              Redis could not be reached in time, or cannot serve now
            └── RedisAuthError                 Redis refused the credentials (waiting will not help)

    SkipRetry, RevokeTask, RateLimited         raised by handlers on purpose (not AsynqErrors)

Errors about one queue or task carry ``queue`` and ``task_id`` attributes.
"""

from __future__ import annotations

__all__ = [
    "AsynqError",
    "BrokerError",
    "DecodeError",
    "DuplicateTaskError",
    "LifecycleError",
    "LimitNotFoundError",
    "NotReplicatedError",
    "PayloadError",
    "QueueNotEmptyError",
    "QueueNotFoundError",
    "RateLimited",
    "RedisAuthError",
    "RedisUnavailableError",
    "RevokeTask",
    "SkipRetry",
    "TaskIdConflictError",
    "TaskNotFoundError",
    "TaskStateError",
    "ValidationError",
]


class AsynqError(Exception):
    """The root of every error the engine raises."""

    def __init__(self, message: str, *, queue: str | None = None, task_id: str | None = None) -> None:
        super().__init__(message)
        self.queue = queue
        """The queue the error is about, if any."""
        self.task_id = task_id
        """The task id the error is about, if any."""


class ValidationError(AsynqError, ValueError):
    """An option, name or argument is not acceptable; nothing was written."""


class PayloadError(ValidationError):
    """A typed payload getter did not find the key, or found a value of another type."""


class DuplicateTaskError(AsynqError):
    """A unique task with the same type and payload is already in the queue (Go's ErrDuplicateTask)."""


class TaskIdConflictError(AsynqError):
    """A task with the same id already exists in the queue (Go's ErrTaskIDConflict)."""


class QueueNotFoundError(AsynqError):
    """The queue does not exist (Go's ErrQueueNotFound)."""


class QueueNotEmptyError(AsynqError):
    """The queue still holds tasks (Go's ErrQueueNotEmpty)."""


class TaskNotFoundError(AsynqError):
    """The task does not exist in the queue (Go's ErrTaskNotFound)."""


class LimitNotFoundError(AsynqError):
    """The queue (or the task type in it) has no flow-control limits to remove."""


class TaskStateError(AsynqError):
    """The task's current state does not allow the operation (e.g. deleting an active task)."""


class LifecycleError(AsynqError):
    """A ``Server`` or ``Scheduler`` was used out of order: started twice, or it did not start in time."""


class DecodeError(AsynqError):
    """Bytes read from Redis are not a valid asynq protobuf message."""


class NotReplicatedError(AsynqError):
    """The master stored the task, but fewer replicas than asked acknowledged it in time.

    A failover now may lose the task: enqueue it again with the same ``task_id`` (a
    ``TaskIdConflictError`` then means the first write survived).
    """

    def __init__(self, message: str, *, acked: int, wanted: int, queue: str, task_id: str) -> None:
        super().__init__(message, queue=queue, task_id=task_id)
        self.acked = acked
        """How many replicas acknowledged the write."""
        self.wanted = wanted
        """How many were asked for (``min_replicas``)."""


class BrokerError(AsynqError):
    """Redis answered a command or script with an error."""


class RedisUnavailableError(BrokerError):
    """Redis could not be reached, did not answer within the socket timeout, or answered that it
    cannot serve now (cluster failover or slot migration, read-only replica, loading): retry later."""


class RedisAuthError(RedisUnavailableError):
    """Redis refused the credentials: a configuration error that retrying will not mend."""


class SkipRetry(Exception):
    """Raised by a handler to archive its task at once instead of retrying it."""


class RevokeTask(Exception):
    """Raised by a handler to drop its task without retrying or archiving it."""


class RateLimited(Exception):
    """Raised by a handler when a downstream says "slow down": run the task again later.

    The task is rescheduled ``retry_after`` seconds from now, unchanged: no retry is used, no
    failure is counted and the error handler is not called; the queue's throttled counters go up.
    """

    def __init__(self, retry_after: float, message: str = "") -> None:
        if not retry_after >= 0:
            raise ValueError(f"retry_after must be a number of seconds >= 0, got {retry_after!r}")
        super().__init__(message or f"rate limited, retry after {retry_after:g}s")
        self.retry_after = float(retry_after)
        """Seconds to wait before running the task again."""
