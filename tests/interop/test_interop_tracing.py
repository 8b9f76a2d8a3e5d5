"""OpenTelemetry across languages: a trace started in a Go producer continues in an asynq-py worker,
and a trace started in an asynq-py client continues in a Go worker (W3C trace context in headers)."""

from __future__ import annotations

import pytest
from helpers import unique_queue, wait_for
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from asynq_py.engine import Client, ServeMux, Server, ServerConfig
from asynq_py.engine import Task as PyTask
from asynq_py.engine.x.tracing import enqueue_hook, tracing_middleware

from .support import Go

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def test_go_producer_trace_continues_in_python_worker(go: Go, real_redis_url: str, spans) -> None:
    provider, exporter = spans
    queue = unique_queue("trace-go-py")
    sent = go.trace_enqueue(queue, "trace:go")
    assert sent["headers"]["traceparent"] == f"00-{sent['trace_id']}-{sent['span_id']}-01"
    mux = ServeMux()
    mux.use(tracing_middleware(provider))
    mux.handle_func("trace:", lambda ctx, task: None)
    server = Server(real_redis_url, ServerConfig(queues={queue: 1}, concurrency=1, task_check_interval_s=0.1))
    server.start(mux)
    try:
        (span,) = wait_for(lambda: exporter.get_finished_spans(), timeout=20, what="the consumer span")
    finally:
        server.shutdown()
    assert span.kind is SpanKind.CONSUMER
    assert span.name == f"process {queue}"
    assert f"{span.context.trace_id:032x}" == sent["trace_id"]
    assert span.parent is not None
    assert span.parent.is_remote
    assert f"{span.parent.span_id:016x}" == sent["span_id"]
    assert span.attributes["messaging.message.id"] == sent["task_id"]


def test_python_producer_trace_continues_in_go_worker(go: Go, real_redis_url: str, spans) -> None:
    provider, exporter = spans
    queue = unique_queue("trace-py-go")
    with Client(real_redis_url, enqueue_hook=enqueue_hook(provider)) as client:
        info = client.enqueue(PyTask("trace:py"), queue=queue)
    (producer,) = exporter.get_finished_spans()
    (seen,) = go.trace_serve(queue, 1)
    assert seen["task_id"] == info.id
    assert seen["trace_id"] == f"{producer.context.trace_id:032x}"
    assert seen["parent_span_id"] == f"{producer.context.span_id:016x}"
    assert seen["remote"] is True
    assert seen["span_id"] != seen["parent_span_id"]
