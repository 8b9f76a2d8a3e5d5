"""asynq-py's engine: a task queue library wire-compatible with Go asynq v0.26.0.

Enqueue with ``Client``/``AsyncClient``, look and fix with ``Inspector``/``AsyncInspector``.
"""

from .client import AsyncClient, Client
from .clock import Clock, RealClock, SimulatedClock
from .config import RedisConnOpt, ServerConfig
from .context import TaskContext
from .errors import (
    AsynqError,
    BrokerError,
    DecodeError,
    DuplicateTaskError,
    PayloadError,
    QueueNotEmptyError,
    QueueNotFoundError,
    RedisUnavailableError,
    RevokeTask,
    SkipRetry,
    TaskIdConflictError,
    TaskNotFoundError,
    TaskStateError,
    ValidationError,
)
from .info import (
    BulkProgress,
    DailyStats,
    GroupInfo,
    QueueInfo,
    SchedulerEnqueueEvent,
    SchedulerEntryInfo,
    ServerInfo,
    WorkerInfo,
)
from .inspector import AsyncInspector, Inspector
from .mux import Handler, HandlerNotFoundError, ServeMux
from .options import LaterOptions, Options, TaskOptions
from .payload import Payload
from .periodic_manager import PeriodicTaskConfig, PeriodicTaskManager, ScheduleSource, TomlScheduleSource
from .scheduler import Scheduler, SchedulerStats
from .server import Server
from .task import Task, TaskInfo, TaskState

__all__ = [
    "AsyncClient",
    "AsyncInspector",
    "AsynqError",
    "BrokerError",
    "BulkProgress",
    "Client",
    "Clock",
    "DailyStats",
    "DecodeError",
    "DuplicateTaskError",
    "GroupInfo",
    "Handler",
    "HandlerNotFoundError",
    "Inspector",
    "LaterOptions",
    "Options",
    "Payload",
    "PayloadError",
    "PeriodicTaskConfig",
    "PeriodicTaskManager",
    "QueueInfo",
    "QueueNotEmptyError",
    "QueueNotFoundError",
    "RealClock",
    "RedisConnOpt",
    "RedisUnavailableError",
    "RevokeTask",
    "ScheduleSource",
    "Scheduler",
    "SchedulerEnqueueEvent",
    "SchedulerEntryInfo",
    "SchedulerStats",
    "ServeMux",
    "Server",
    "ServerConfig",
    "ServerInfo",
    "SimulatedClock",
    "SkipRetry",
    "Task",
    "TaskContext",
    "TaskIdConflictError",
    "TaskInfo",
    "TaskNotFoundError",
    "TaskOptions",
    "TaskState",
    "TaskStateError",
    "TomlScheduleSource",
    "ValidationError",
    "WorkerInfo",
]
