"""OpenTelemetry: the client hook injects W3C trace context into headers; the middleware continues it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from helpers import wait_for
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from asynq_py.engine import AsyncClient, Client, Inspector, ServeMux, Server, ServerConfig, SkipRetry, Task
from asynq_py.engine.x.tracing import enqueue_hook, tracing_middleware

FAST = {"task_check_interval_s": 0.1, "delayed_task_check_interval_s": 0.2, "shutdown_timeout_s": 1.0,
        "retry_delay_func": lambda n, exc, task: 0.0}  # fmt: skip


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def traceparent(span: ReadableSpan) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def test_client_hook_injects_the_producer_span_into_headers(redis_client: redis.Redis, spans) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("test")
    client = Client(redis_client, enqueue_hook=enqueue_hook(provider))
    with tracer.start_as_current_span("request") as outer:
        info = client.enqueue(Task("email:send", b"x"), queue="mail")
    own = client.enqueue(
        Task("email:send", headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
    )
    producer = next(s for s in exporter.get_finished_spans() if s.name == "create mail")
    assert producer.kind is SpanKind.PRODUCER
    assert producer.parent is not None
    assert producer.parent.span_id == outer.get_span_context().span_id
    assert dict(producer.attributes or {}) == {
        "messaging.system": "asynq",
        "messaging.operation.type": "create",
        "messaging.operation.name": "create",
        "messaging.destination.name": "mail",
        "messaging.message.id": info.id,
        "asynq.task.type": "email:send",
    }
    stored = Inspector(redis_client).get_task_info("mail", info.id)
    assert stored.headers["traceparent"] == traceparent(producer)
    assert (
        Inspector(redis_client).get_task_info("default", own.id).headers["traceparent"].startswith("00-111")
    )


async def test_async_client_takes_the_same_hook(aredis_client, spans) -> None:
    provider, exporter = spans
    async with AsyncClient(aredis_client, enqueue_hook=enqueue_hook(provider)) as client:
        info = await client.enqueue(Task("t"), queue="a")
    (producer,) = exporter.get_finished_spans()
    assert info.headers["traceparent"] == traceparent(producer)


@pytest.mark.real
def test_worker_continues_the_trace_with_outcomes(real_redis_url: str, spans) -> None:
    provider, exporter = spans
    queue = f"tr-{uuid.uuid4().hex[:8]}"
    mux = ServeMux()
    mux.use(tracing_middleware(provider))

    @mux.handle_func("ok:async")
    async def ok_async(ctx, task) -> None:
        pass

    mux.handle_func("ok:sync", lambda ctx, task: b"done")
    mux.handle_func("flaky", lambda ctx, task: 1 / 0)
    mux.handle_func("skip", lambda ctx, task: (_ for _ in ()).throw(SkipRetry("no")))
    server = Server(real_redis_url, ServerConfig(queues={queue: 1}, concurrency=2, **FAST))
    with Client(real_redis_url, enqueue_hook=enqueue_hook(provider)) as client:
        ids = {
            t: client.enqueue(Task(t), queue=queue, max_retry=1).id
            for t in ("ok:async", "ok:sync", "flaky", "skip")
        }
        server.start(mux)
        try:
            wait_for(
                lambda: len([s for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER]) == 5,
                timeout=15,
            )
        finally:
            server.shutdown()
    finished = exporter.get_finished_spans()
    producers = {s.attributes["messaging.message.id"]: s for s in finished if s.kind is SpanKind.PRODUCER}
    consumers = [s for s in finished if s.kind is SpanKind.CONSUMER]
    for span in consumers:
        attrs = dict(span.attributes or {})
        producer = producers[attrs["messaging.message.id"]]
        assert span.name == f"process {queue}"
        assert attrs["messaging.destination.name"] == queue
        assert span.context.trace_id == producer.context.trace_id
        assert span.parent is not None
        assert span.parent.span_id == producer.context.span_id
        assert [link.context.span_id for link in span.links] == [producer.context.span_id]
        assert attrs["messaging.system"] == "asynq"
        assert attrs["messaging.operation.type"] == "process"
    by_task = {
        (s.attributes["asynq.task.type"], s.attributes["asynq.task.retry_count"]): s for s in consumers
    }
    assert by_task[("ok:async", 0)].attributes["asynq.task.outcome"] == "succeeded"
    assert by_task[("ok:sync", 0)].status.status_code is StatusCode.UNSET
    assert by_task[("flaky", 0)].attributes["asynq.task.outcome"] == "retry"
    assert by_task[("flaky", 1)].attributes["asynq.task.outcome"] == "archive"
    assert by_task[("flaky", 1)].status.status_code is StatusCode.ERROR
    assert by_task[("flaky", 1)].events[0].name == "exception"
    assert by_task[("skip", 0)].attributes["asynq.task.outcome"] == "archive"
    assert set(ids) == {t for t, _ in by_task}
