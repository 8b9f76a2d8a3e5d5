"""``ServeMux``: routes tasks to handlers by type, with longest-prefix matching and middleware."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    ParamSpec,
    Protocol,
    TypeVar,
    Unpack,
    overload,
    runtime_checkable,
)

from .errors import ValidationError

if TYPE_CHECKING:
    from .context import TaskContext
    from .options import TaskOptions
    from .task import Task
    from .taskdef import TaskDef

__all__ = [
    "Handler",
    "HandlerFunc",
    "HandlerNotFoundError",
    "Middleware",
    "ServeMux",
    "handler_function",
    "is_async_handler",
]

HandlerFunc = Callable[["TaskContext", "Task"], Any]
"""A ``def`` or ``async def`` taking ``(ctx, task)``; what it returns (bytes or str) is kept as the result."""

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")

Middleware = Callable[[HandlerFunc], HandlerFunc]
"""Wraps a handler function into another."""


@runtime_checkable
class Handler(Protocol):
    """Anything with a ``process_task(ctx, task)`` method (``def`` or ``async def``)."""

    def process_task(self, ctx: TaskContext, task: Task) -> Any:
        """Process one task; raise to fail it."""
        ...


class HandlerNotFoundError(Exception):
    """No handler matches the task type (an ordinary failure: the task is retried, as in Go)."""


def handler_function(handler: Handler | HandlerFunc) -> HandlerFunc:
    """Return the function to call for ``handler`` (its ``process_task`` or itself)."""
    if isinstance(handler, Handler):
        return handler.process_task
    if callable(handler):
        return handler
    raise ValidationError(f"a handler must be callable or have process_task, got {type(handler).__name__}")


def is_async_handler(fn: HandlerFunc) -> bool:
    """Return True if ``fn`` must be awaited (runs on the event loop) rather than run in a thread."""
    target = getattr(fn, "__asynq_async__", None)
    if target is not None:
        return bool(target)
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


class ServeMux:
    """Routes a task to the handler registered for the longest pattern that prefixes its type.

    An exact match wins over prefixes; with no match the task fails with ``HandlerNotFoundError``
    (and is retried), as Go's ``ServeMux`` does. Middleware registered with ``use`` wraps every
    handler, the first registered outermost.
    """

    def __init__(self) -> None:
        self._routes: dict[str, HandlerFunc] = {}
        self._middlewares: list[Middleware] = []
        self._resolved: dict[str, HandlerFunc] = {}
        """Task type to its wrapped handler: the chain is built once per type, not per task."""
        self._task_defs: dict[str, TaskDef[..., Any]] = {}

    def handle(self, pattern: str, handler: Handler | HandlerFunc) -> None:
        """Register ``handler`` for task types equal to or starting with ``pattern``."""
        if not isinstance(pattern, str) or not pattern.strip():
            raise ValidationError("a handler pattern must be a non-blank string")
        if pattern in self._routes:
            raise ValidationError(f"a handler is already registered for pattern {pattern!r}")
        self._routes[pattern] = handler_function(handler)
        self._resolved.clear()

    @overload
    def handle_func(self, pattern: str) -> Callable[[F], F]: ...

    @overload
    def handle_func(self, pattern: str, fn: F) -> F: ...

    def handle_func(self, pattern: str, fn: F | None = None) -> F | Callable[[F], F]:
        """Register a function for ``pattern``; without ``fn``, return a decorator that does."""
        if fn is not None:
            self.handle(pattern, fn)
            return fn

        def decorator(func: F) -> F:
            self.handle(pattern, func)
            return func

        return decorator

    def task(
        self, task_type: str, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[Concatenate[TaskContext, P], R]], TaskDef[P, R]]:
        """Return a decorator that defines ``task_type`` by a typed function and registers its handler.

        The function takes ``(ctx, <arguments>)``; ``options`` are the default enqueue options of
        the tasks that the returned ``TaskDef`` makes. See ``TaskDef``.
        """
        from .taskdef import TaskDef  # msgspec loads only for apps that define typed tasks

        def decorator(fn: Callable[Concatenate[TaskContext, P], R]) -> TaskDef[P, R]:
            definition = TaskDef(task_type, fn, **options)
            self.handle(task_type, definition.handler())
            self._task_defs[task_type] = definition
            return definition

        return decorator

    def task_defs(self) -> list[TaskDef[..., Any]]:
        """Return the typed task definitions registered with ``task``, sorted by type."""
        return [self._task_defs[name] for name in sorted(self._task_defs)]

    def use(self, *middlewares: Middleware) -> None:
        """Wrap every handler in ``middlewares`` (applied in the order given, first outermost)."""
        self._middlewares.extend(middlewares)
        self._resolved.clear()

    def match(self, task_type: str) -> HandlerFunc | None:
        """Return the handler registered for the longest pattern matching ``task_type``."""
        exact = self._routes.get(task_type)
        if exact is not None:
            return exact
        best = max((p for p in self._routes if task_type.startswith(p)), key=len, default=None)
        return None if best is None else self._routes[best]

    def resolve(self, task_type: str) -> HandlerFunc:
        """Return the handler for ``task_type`` wrapped in the middleware chain."""
        resolved = self._resolved.get(task_type)
        if resolved is None:
            if len(self._resolved) >= 4096:  # task types come from Redis: keep the cache bounded
                self._resolved.clear()
            resolved = self._resolved[task_type] = self._wrap(task_type)
        return resolved

    def _wrap(self, task_type: str) -> HandlerFunc:
        fn = self.match(task_type) or _not_found
        for middleware in reversed(self._middlewares):
            inner_async = is_async_handler(fn)
            fn = middleware(fn)
            if getattr(fn, "__asynq_async__", None) is None and not inspect.iscoroutinefunction(fn):
                # A plain wrapper around an async handler returns its awaitable; keep it on the loop.
                with contextlib.suppress(AttributeError):
                    fn.__asynq_async__ = inner_async  # type: ignore[attr-defined]
        return fn

    def process_task(self, ctx: TaskContext, task: Task) -> Awaitable[Any] | Any:
        """Dispatch ``task`` to its handler, so that a mux is itself a handler."""
        return self.resolve(task.type)(ctx, task)


async def _not_found(ctx: TaskContext, task: Task) -> None:
    raise HandlerNotFoundError(f'handler not found for task "{task.type}"')
