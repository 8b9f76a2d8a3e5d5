"""The event loop a ``Server`` or ``Scheduler`` creates: ``ServerConfig.event_loop`` / ``event_loop=``.

``auto`` is uvloop where it imports, else asyncio's own loop; ``asyncio`` and ``uvloop`` force one.
Handlers record ``type(asyncio.get_running_loop())`` on a real server.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import sys
import threading

import pytest
import uvloop

from asynq_py.engine import (
    Client,
    ServeMux,
    Server,
    ServerConfig,
    Task,
    TaskContext,
    ValidationError,
)
from asynq_py.engine.eventloop import loop_factory, loop_name, run
from asynq_py.engine.scheduler import Scheduler

FAST = {
    "heartbeat_interval_s": 0.5,
    "lease_duration_s": 2,
    "task_check_interval_s": 0.2,
    "shutdown_timeout_s": 1.0,
}

LOOP_TYPES = {"uvloop": uvloop.Loop, "asyncio": asyncio.SelectorEventLoop}
"""The class of each loop on Linux (asyncio's own loop there is the selector loop)."""


@pytest.fixture
def no_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import uvloop`` fail, as where it is not installed."""
    monkeypatch.setitem(sys.modules, "uvloop", None)


def test_auto_is_uvloop_where_it_imports_and_asyncio_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    assert loop_factory("auto") is uvloop.new_event_loop
    assert loop_name("auto") == "uvloop"
    assert loop_factory("uvloop") is uvloop.new_event_loop
    assert loop_factory("asyncio") is None
    assert loop_name("asyncio") == "asyncio"
    monkeypatch.setitem(sys.modules, "uvloop", None)
    assert loop_factory("auto") is None
    assert loop_name("auto") == "asyncio"


@pytest.mark.parametrize("name", ["bogus", "", "UVLOOP", "trio"])
def test_an_unknown_event_loop_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="event_loop must be auto, asyncio or uvloop"):
        ServerConfig(event_loop=name)
    with pytest.raises(ValidationError, match="event_loop must be auto, asyncio or uvloop"):
        Scheduler("redis://127.0.0.1:1/0", event_loop=name)
    with pytest.raises(ValidationError):
        loop_factory(name)


def test_uvloop_asked_for_where_it_is_missing_fails_at_start(no_uvloop: None) -> None:
    config = ServerConfig(event_loop="uvloop")  # a config may be built where uvloop is missing
    server = Server("redis://127.0.0.1:1/0", config)
    for start in (lambda: server.run(lambda ctx, task: None), lambda: server.start(lambda ctx, task: None)):
        with pytest.raises(ValidationError, match="uvloop is not available here") as caught:
            start()
        assert "\n" not in str(caught.value)
        assert "install uvloop, or use auto or asyncio" in str(caught.value)
    assert server.status == "new"
    scheduler = Scheduler("redis://127.0.0.1:1/0", event_loop="uvloop")
    with pytest.raises(ValidationError, match="uvloop is not available here"):
        scheduler.start()
    with pytest.raises(ValidationError, match="uvloop is not available here"):
        scheduler.run()


class _LoopThatCannotClose(asyncio.SelectorEventLoop):
    """Closes its selector, then fails as uvloop does when a handle is still closing (EBUSY)."""

    def close(self) -> None:
        super().close()
        raise OSError(errno.EBUSY, "Device or resource busy")


def test_a_loop_that_cannot_close_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def work() -> str:
        return "done"

    with caplog.at_level(logging.WARNING, logger="asynq_py"):
        assert run(work(), _LoopThatCannotClose) == "done"
    assert [r.getMessage() for r in caplog.records] == [
        "the event loop did not close cleanly ([Errno 16] Device or resource busy): "
        "a connection was still open"
    ]


def test_an_error_of_the_work_itself_is_raised() -> None:
    async def work() -> None:
        raise ValueError("the work failed")

    with pytest.raises(ValueError, match="the work failed"):
        run(work(), None)


def run_one_task_on(real_redis_url: str, queue: str, event_loop: str) -> type[asyncio.AbstractEventLoop]:
    """Start a server with ``event_loop`` on a thread, run one async task, and return its loop's type."""
    seen: list[type[asyncio.AbstractEventLoop]] = []
    ran = threading.Event()

    async def handler(ctx: TaskContext, task: Task) -> None:
        seen.append(type(asyncio.get_running_loop()))
        ran.set()

    mux = ServeMux()
    mux.handle("loop", handler)
    server = Server(real_redis_url, ServerConfig(queues={queue: 1}, event_loop=event_loop, **FAST))
    server.start(mux)
    try:
        with Client(real_redis_url) as client:
            client.enqueue(Task("loop"), queue=queue)
        assert ran.wait(15), "the task did not run"
    finally:
        server.shutdown()
    return seen[0]


@pytest.mark.real
@pytest.mark.parametrize(
    ("event_loop", "expected"), [("uvloop", "uvloop"), ("asyncio", "asyncio"), ("auto", "uvloop")]
)
def test_a_started_server_runs_async_handlers_on_its_event_loop(
    real_redis_url: str, queue: str, event_loop: str, expected: str
) -> None:
    assert run_one_task_on(real_redis_url, queue, event_loop) is LOOP_TYPES[expected]


@pytest.mark.real
def test_auto_runs_on_asyncio_where_uvloop_is_missing(
    real_redis_url: str, queue: str, no_uvloop: None
) -> None:
    assert run_one_task_on(real_redis_url, queue, "auto") is LOOP_TYPES["asyncio"]


@pytest.mark.real
@pytest.mark.timeout(60)
@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_run_serves_on_its_event_loop_until_sigterm(real_redis_url: str, queue: str, event_loop: str) -> None:
    seen: list[type[asyncio.AbstractEventLoop]] = []

    async def handler(ctx: TaskContext, task: Task) -> None:
        seen.append(type(asyncio.get_running_loop()))
        os.kill(os.getpid(), signal.SIGTERM)  # run() handles it on its loop: a graceful shutdown

    with Client(real_redis_url) as client:
        client.enqueue(Task("loop"), queue=queue)
    server = Server(real_redis_url, ServerConfig(queues={queue: 1}, event_loop=event_loop, **FAST))
    server.run(handler)
    assert seen == [LOOP_TYPES[event_loop]]
    assert server.status == "closed"


@pytest.mark.real
@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
def test_a_scheduler_runs_on_its_event_loop(real_redis_url: str, queue: str, event_loop: str) -> None:
    seen: list[type[asyncio.AbstractEventLoop]] = []
    fired = threading.Event()

    def before(task: Task, options: object) -> None:
        seen.append(type(asyncio.get_running_loop()))
        fired.set()

    scheduler = Scheduler(real_redis_url, pre_enqueue=before, check_interval_s=0.1, event_loop=event_loop)
    scheduler.register("@every 1s", Task("tick"), queue=queue)
    scheduler.start()
    try:
        assert fired.wait(10), "no tick was enqueued"
    finally:
        scheduler.shutdown()
    assert seen[0] is LOOP_TYPES[event_loop]
