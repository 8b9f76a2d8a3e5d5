"""asynq-py's engine: a task queue library wire-compatible with Go asynq v0.26.0.

Enqueue with ``Client``/``AsyncClient``, look and fix with ``Inspector``/``AsyncInspector``.

The public names are loaded on first use (PEP 562), so importing the package costs nothing until a
name is used: ``asynq-py --version`` does not load redis or protobuf.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from .client import AsyncClient, Client
    from .clock import Clock, RealClock, SimulatedClock
    from .config import RedisConnOpt, ServerConfig
    from .context import TaskContext
    from .errors import (
        AsynqError,
        BrokerError,
        DecodeError,
        DuplicateTaskError,
        NotReplicatedError,
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
    from .taskdef import TaskDef

_EXPORTS: dict[str, str] = {
    "AsyncClient": "client",
    "AsyncInspector": "inspector",
    "AsynqError": "errors",
    "BrokerError": "errors",
    "BulkProgress": "info",
    "Client": "client",
    "Clock": "clock",
    "DailyStats": "info",
    "DecodeError": "errors",
    "DuplicateTaskError": "errors",
    "GroupInfo": "info",
    "Handler": "mux",
    "HandlerNotFoundError": "mux",
    "Inspector": "inspector",
    "LaterOptions": "options",
    "NotReplicatedError": "errors",
    "Options": "options",
    "Payload": "payload",
    "PayloadError": "errors",
    "PeriodicTaskConfig": "periodic_manager",
    "PeriodicTaskManager": "periodic_manager",
    "QueueInfo": "info",
    "QueueNotEmptyError": "errors",
    "QueueNotFoundError": "errors",
    "RealClock": "clock",
    "RedisConnOpt": "config",
    "RedisUnavailableError": "errors",
    "RevokeTask": "errors",
    "ScheduleSource": "periodic_manager",
    "Scheduler": "scheduler",
    "SchedulerEnqueueEvent": "info",
    "SchedulerEntryInfo": "info",
    "SchedulerStats": "scheduler",
    "ServeMux": "mux",
    "Server": "server",
    "ServerConfig": "config",
    "ServerInfo": "info",
    "SimulatedClock": "clock",
    "SkipRetry": "errors",
    "Task": "task",
    "TaskContext": "context",
    "TaskDef": "taskdef",
    "TaskIdConflictError": "errors",
    "TaskInfo": "task",
    "TaskNotFoundError": "errors",
    "TaskOptions": "options",
    "TaskState": "task",
    "TaskStateError": "errors",
    "TomlScheduleSource": "periodic_manager",
    "ValidationError": "errors",
    "WorkerInfo": "info",
}
"""Each public name and the module that defines it."""

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
    "NotReplicatedError",
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
    "TaskDef",
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


__version__ = "0.1.0"
"""The version of asynq-py (read by the build and by ``asynq-py --version``)."""


def __getattr__(name: str) -> _typing.Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
