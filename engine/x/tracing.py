"""OpenTelemetry tracing through task headers: W3C ``traceparent``/``tracestate``, as Go can read.

``Client(..., enqueue_hook=enqueue_hook())`` opens a PRODUCER span ``create <queue>`` for every
task and injects its context into the task's headers (the protobuf ``headers`` field);
``mux.use(tracing_middleware())`` runs each handler in a CONSUMER span ``process <queue>`` whose
parent, and link, is the context found in the headers. Both carry the messaging semantic
conventions' attributes (``messaging.system`` = ``asynq``, ``messaging.destination.name``,
``messaging.message.id``) plus ``asynq.task.type``; the consumer span also ``asynq.task.retry_count``
and ``asynq.task.outcome`` (``succeeded``, ``retry``, ``archive`` or ``revoked``), and an error
status with the exception when the handler raised. Propagation uses the global propagator
(W3C trace context and baggage unless configured otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, TracerProvider

from ..client import EnqueueHook
from ..context import TaskContext
from ..errors import RevokeTask, SkipRetry
from ..mux import HandlerFunc, Middleware, is_async_handler
from ..task import Task

__all__ = ["enqueue_hook", "outcome_of", "tracing_middleware"]

_SCOPE = "asynq_py"


def _attributes(queue: str, task_id: str, task_type: str, operation: str) -> dict[str, Any]:
    return {
        "messaging.system": "asynq",
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": queue,
        "messaging.message.id": task_id,
        "asynq.task.type": task_type,
    }


def enqueue_hook(tracer_provider: TracerProvider | None = None) -> EnqueueHook:
    """Return a client hook that records a producer span and puts its context in the headers."""
    tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)

    def hook(task_type: str, queue: str, task_id: str) -> Mapping[str, str]:
        attributes = _attributes(queue, task_id, task_type, "create")
        span = tracer.start_span(f"create {queue}", kind=SpanKind.PRODUCER, attributes=attributes)
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        span.end()
        return carrier

    return hook


def outcome_of(ctx: TaskContext, exc: BaseException) -> str:
    """Return what the server does with a task whose handler raised ``exc``."""
    if isinstance(exc, RevokeTask):
        return "revoked"
    if isinstance(exc, SkipRetry) or ctx.retry_count >= ctx.max_retry:
        return "archive"
    return "retry"


def tracing_middleware(tracer_provider: TracerProvider | None = None) -> Middleware:
    """Return ``ServeMux`` middleware that runs each handler in a consumer span (``use`` it first)."""
    tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)

    @contextmanager
    def consumer_span(ctx: TaskContext, task: Task) -> Iterator[Span]:
        parent = propagate.extract(task.headers)
        producer = trace.get_current_span(parent).get_span_context()
        attributes = _attributes(ctx.queue, ctx.task_id, task.type, "process")
        attributes["asynq.task.retry_count"] = ctx.retry_count
        with tracer.start_as_current_span(
            f"process {ctx.queue}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=[Link(producer)] if producer.is_valid else None,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                span.set_attribute("asynq.task.outcome", outcome_of(ctx, exc))
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, str(exc) or type(exc).__name__))
                raise
            span.set_attribute("asynq.task.outcome", "succeeded")

    def middleware(handler: HandlerFunc) -> HandlerFunc:
        if is_async_handler(handler):

            async def traced_async(ctx: TaskContext, task: Task) -> Any:
                with consumer_span(ctx, task):
                    return await handler(ctx, task)

            return traced_async

        def traced(ctx: TaskContext, task: Task) -> Any:
            with consumer_span(ctx, task):
                return handler(ctx, task)

        return traced

    return middleware
