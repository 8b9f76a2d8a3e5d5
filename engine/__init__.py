"""asynq-py's engine: a task queue library wire-compatible with Go asynq v0.26.0.

Enqueue with ``Client``/``AsyncClient``, look and fix with ``Inspector``/``AsyncInspector``, run
handlers with ``Server`` and a ``ServeMux``. The Redis layout both sides share is docs/wire.md.

Module map, by layer from top to bottom (pyproject.toml states the same layers as an
import-linter contract: a module imports only from the layers below it)::

    x/                  optional extras: Prometheus metrics, OpenTelemetry tracing
    server              Server: lifecycle, signals, wiring the loops; run() and run_async()
    periodic_manager    PeriodicTaskManager: a scheduler whose entries come from a reloaded source
    scheduler           Scheduler: enqueues tasks on cron specs
    supervisor          several worker processes under one parent, restarted when they die
    aggregator, forwarder, heartbeat, janitor, recoverer, subscriber
                        the background loops, one each
    processor           dequeue under a lease, run the handler, write the outcome
    client, inspector   Client/AsyncClient (enqueue), Inspector/AsyncInspector (read and admin)
    coalescing          AsyncClient's concurrent enqueues gathered into one plan per loop step
    rdb_limits          plans of the flow-control limits (set, remove, read with their use)
    rdb, rdb_inspect    plans: the Redis calls of each operation, without I/O
    broker              the only code that runs calls (resp's hiredis connections, else redispy)
    values and helpers  task, options, payload, info, config, context, mux, taskdef, keys, wire,
                        calls, resp, pipelined, redispy, routing, scripts/, clock, cron, gotime,
                        gojson, observer, periodic, ratelimit, threads, embedded, settings, limits,
                        holds
    eventloop           which event loop Server and Scheduler create: uvloop where installed
    errors              the exception tree

The public names are loaded on first use (PEP 562), so importing the package costs nothing until a
name is used: ``asynq-py --version`` does not load redis or protobuf. A standalone server is reached
without redis-py (``resp``); ``redispy`` loads it for a Cluster, Sentinel, Pub/Sub or a client given.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from .client import AsyncClient, Client
    from .clock import Clock, RealClock, SimulatedClock
    from .config import RedisConnOpt, ServerConfig
    from .context import TaskContext
    from .embedded import EmbeddedRedis
    from .errors import (
        AsynqError,
        BrokerError,
        DecodeError,
        DuplicateTaskError,
        LifecycleError,
        LimitNotFoundError,
        NotReplicatedError,
        PayloadError,
        QueueNotEmptyError,
        QueueNotFoundError,
        RateLimited,
        RedisAuthError,
        RedisUnavailableError,
        RevokeTask,
        SkipRetry,
        TaskIdConflictError,
        TaskNotFoundError,
        TaskStateError,
        ValidationError,
    )
    from .gotime import format_duration, parse_duration
    from .info import (
        BulkProgress,
        DailyStats,
        GroupInfo,
        LimitsInfo,
        QueueInfo,
        SchedulerEnqueueEvent,
        SchedulerEntryInfo,
        ServerInfo,
        TaskLimitInfo,
        WorkerInfo,
    )
    from .inspector import AsyncInspector, Inspector
    from .limits import Limit, QueueLimits, Rate, next_start_text
    from .mux import Handler, HandlerNotFoundError, ServeMux
    from .observer import WorkerObserver
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
    "EmbeddedRedis": "embedded",
    "GroupInfo": "info",
    "Handler": "mux",
    "HandlerNotFoundError": "mux",
    "Inspector": "inspector",
    "LaterOptions": "options",
    "LifecycleError": "errors",
    "Limit": "limits",
    "LimitNotFoundError": "errors",
    "LimitsInfo": "info",
    "NotReplicatedError": "errors",
    "Options": "options",
    "Payload": "payload",
    "PayloadError": "errors",
    "PeriodicTaskConfig": "periodic_manager",
    "PeriodicTaskManager": "periodic_manager",
    "QueueInfo": "info",
    "QueueLimits": "limits",
    "QueueNotEmptyError": "errors",
    "QueueNotFoundError": "errors",
    "Rate": "limits",
    "RateLimited": "errors",
    "RealClock": "clock",
    "RedisAuthError": "errors",
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
    "TaskLimitInfo": "info",
    "TaskNotFoundError": "errors",
    "TaskOptions": "options",
    "TaskState": "task",
    "TaskStateError": "errors",
    "TomlScheduleSource": "periodic_manager",
    "ValidationError": "errors",
    "WorkerInfo": "info",
    "WorkerObserver": "observer",
    "format_duration": "gotime",
    "next_start_text": "limits",
    "parse_duration": "gotime",
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
    "EmbeddedRedis",
    "GroupInfo",
    "Handler",
    "HandlerNotFoundError",
    "Inspector",
    "LaterOptions",
    "LifecycleError",
    "Limit",
    "LimitNotFoundError",
    "LimitsInfo",
    "NotReplicatedError",
    "Options",
    "Payload",
    "PayloadError",
    "PeriodicTaskConfig",
    "PeriodicTaskManager",
    "QueueInfo",
    "QueueLimits",
    "QueueNotEmptyError",
    "QueueNotFoundError",
    "Rate",
    "RateLimited",
    "RealClock",
    "RedisAuthError",
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
    "TaskLimitInfo",
    "TaskNotFoundError",
    "TaskOptions",
    "TaskState",
    "TaskStateError",
    "TomlScheduleSource",
    "ValidationError",
    "WorkerInfo",
    "WorkerObserver",
    "format_duration",
    "next_start_text",
    "parse_duration",
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
