"""Shared fixtures: Redis on fakeredis (fast) and on a real server started from the embedded binary.

Tests run in parallel under pytest-xdist: each worker process starts its own real server (the
session fixture ``real_redis_url``) and runs its tests one at a time, so a test that needs an empty
database may flush it. ``--redis-url`` points the "real" runs at an external server instead, with
database N for xdist worker ``gwN``, so flushing is FLUSHDB, never FLUSHALL. Tests that share a
database without flushing it work in queues of their own (the ``queue`` fixture).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import fakeredis
import pytest
import redis
import redis.asyncio as aredis
from helpers import unique_queue
from socket_guard import SocketGuard

from asynq_py.engine.embedded import server_binary

if TYPE_CHECKING:
    from asynq_py.engine import Server


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--redis-url", default=None, help="run the 'real' tests against this Redis")


_sockets = SocketGuard()
_sockets.install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[object]:
    _sockets.owner = item.nodeid
    try:
        return (yield)
    finally:
        _sockets.owner = None


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Iterator[object]:
    """Sockets a session- or module-scoped fixture makes are its own, checked when it is torn down."""
    if fixturedef.scope == "function":
        return (yield)
    test, _sockets.owner = _sockets.owner, f"{fixturedef.scope} fixture {fixturedef.argname}"
    try:
        return (yield)
    finally:
        _sockets.owner = test


def pytest_fixture_post_finalizer(fixturedef: pytest.FixtureDef[Any]) -> None:
    if fixturedef.scope != "function":
        _fail_if_open(f"{fixturedef.scope} fixture {fixturedef.argname}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Fail the test whose sockets are still open once its fixtures are torn down (socket_guard.py)."""
    yield
    _fail_if_open(item.nodeid)


def _fail_if_open(owner: str) -> None:
    left = _sockets.left_open(owner)
    if left:
        pytest.fail(f"{owner} left {len(left)} socket(s) open:\n" + "\n".join(left), pytrace=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RealServer:
    """A redis-compatible server process on a free loopback port, stopped by ``stop``."""

    def __init__(
        self, workdir: Path, port: int | None = None, extra: tuple[str, ...] = (), binary: Path | None = None
    ) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.extra = extra
        self.binary = binary or server_binary()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.workdir), "--save", "", "--appendonly", "no", *self.extra]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5)
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        self.stop()
                        raise RuntimeError(f"test Redis did not start on port {self.port}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="session")
def real_redis_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real server for the whole session (``--redis-url`` or one started here)."""
    external = request.config.getoption("--redis-url")
    if external:
        yield worker_database(external)
        return
    server = RealServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def worker_database(url: str) -> str:
    """``url`` with the database of this xdist worker (``gw3`` -> 3), or unchanged outside xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    return urlunsplit(urlsplit(url)._replace(path=f"/{int(worker.removeprefix('gw'))}"))


@pytest.fixture
def queue() -> str:
    """A queue name no other test uses."""
    return unique_queue()


@pytest.fixture
def real_server_factory(tmp_path: Path) -> Iterator[Any]:
    """Start private servers (for tests that stop or restart Redis); all are stopped afterwards."""
    started: list[RealServer] = []

    def make(port: int | None = None, extra: tuple[str, ...] = (), binary: Path | None = None) -> RealServer:
        server = RealServer(tmp_path / f"redis{len(started)}", port, extra, binary)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers a test started: it appends each, and each is shut down at the end, in order."""
    started: list[Server] = []
    yield started
    for server in started:
        server.shutdown()


@pytest.fixture(params=["fake", "real"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which Redis a test runs on; "real" tests carry the ``real`` mark."""
    if request.param == "real":
        request.applymarker(pytest.mark.real)
    return str(request.param)


@pytest.fixture
def redis_client(backend: str, request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    """A blocking client to an empty database."""
    if backend == "fake":
        server = fakeredis.FakeServer()
        request.node.fake_server = server
        client: redis.Redis = fakeredis.FakeRedis(server=server)
    else:
        client = redis.Redis.from_url(request.getfixturevalue("real_redis_url"), socket_timeout=5)
        client.flushdb()
    yield client
    client.close()


@pytest.fixture
async def aredis_client(
    redis_client: redis.Redis, backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[aredis.Redis]:
    """An asyncio client to the same database as ``redis_client``."""
    if backend == "fake":
        client: aredis.Redis = fakeredis.FakeAsyncRedis(server=request.node.fake_server)
    else:
        client = aredis.Redis.from_url(request.getfixturevalue("real_redis_url"), socket_timeout=5)
    yield client
    await client.aclose()
