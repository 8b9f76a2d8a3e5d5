"""The brokers' own connections (``resp``) on the real server: auto-pipelining keeps every task's
own result and error, connections fail cleanly and come back, and the handshake honours the URL."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import redis
from helpers import in_forked_child, wait_for

from asynq_py.engine import (
    AsyncClient,
    Client,
    DuplicateTaskError,
    NotReplicatedError,
    RedisConnOpt,
    RedisUnavailableError,
    Task,
    TaskIdConflictError,
    TaskInfo,
    TaskState,
    ValidationError,
    scripts,
)
from asynq_py.engine.coalescing import BATCH
from asynq_py.engine.pipelined import PipelinedConnection

pytestmark = pytest.mark.real


@pytest.fixture
def url(real_redis_url: str) -> str:
    with redis.Redis.from_url(real_redis_url) as admin:
        admin.flushall()
    return real_redis_url


def test_commands_sent_in_one_loop_step_share_writes(url: str) -> None:
    writes: list[int] = []

    async def main() -> list[list[Any]]:
        conn = PipelinedConnection(RedisConnOpt.from_url(url))
        await conn.execute([("PING",)])  # connects
        transport: Any = conn._protocol._transport
        real_write = transport.write

        def spy(data: bytes) -> None:
            writes.append(data.count(b"INCR"))
            real_write(data)

        transport.write = spy
        try:
            return await asyncio.gather(*(conn.execute([("INCR", "n"), ("INCR", "n")]) for _ in range(100)))
        finally:
            conn.close()

    replies = asyncio.run(main())
    # The first call, with nothing ahead of it, goes out at once; the other 99 calls of 2 commands
    # share a handful of writes of 16 or more, not one write per call.
    assert sum(writes) == 200
    assert writes[0] == 2
    assert len(writes) <= 1 + 198 // 16 + 1
    assert all(n >= 16 for n in writes[1:-1])
    # Replies reach their own callers in order: caller i got 2i+1 and 2i+2.
    assert replies == [[2 * i + 1, 2 * i + 2] for i in range(100)]


def test_a_burst_of_enqueues_is_stored_in_batches_each_written_when_full(url: str) -> None:
    # 200 callers at once: a batch holds at most BATCH tasks and goes to Redis as soon as it is
    # built, so Redis stores the first while the client builds the next (not one write at the end).
    many = scripts.script("enqueue_many").sha.encode()

    async def main() -> tuple[list[int], list[int], list[TaskInfo]]:
        async with AsyncClient(url) as client:
            await client.enqueue(Task("warm"))
            coalescer = client._coalescer
            sizes: list[int] = []
            plan = coalescer._plan

            def counted(items: list[Any]) -> Any:
                sizes.append(len(items))
                return plan(items)

            coalescer._plan = counted
            transport: Any = client._broker._pipelined._protocol._transport
            writes: list[int] = []
            real_write = transport.write

            def spy(data: bytes) -> None:
                writes.append(data.count(many))
                real_write(data)

            transport.write = spy
            infos = await asyncio.gather(*(client.enqueue(Task("t", {"n": n})) for n in range(200)))
            return sizes, writes, infos

    sizes, writes, infos = asyncio.run(main())
    assert max(sizes) == BATCH
    assert sum(sizes) >= 200 - 2  # (the first caller of a step goes alone)
    assert sum(1 for n in writes if n) == len(sizes)  # one write per batch
    assert len({info.id for info in infos}) == 200
    with redis.Redis.from_url(url) as raw:
        assert raw.llen("asynq:{default}:pending") == 201


def test_concurrent_unique_enqueues_get_one_lock_and_each_its_own_error(url: str) -> None:
    async def main() -> list[Any]:
        async with AsyncClient(url) as client:
            same = [client.enqueue(Task("u", {"k": 1}), unique=60) for _ in range(50)]
            other = [client.enqueue(Task("u", {"k": n}), unique=60) for n in range(2, 52)]
            return await asyncio.gather(*same, *other, return_exceptions=True)

    results = asyncio.run(main())
    first, rest = results[:50], results[50:]
    assert sum(not isinstance(r, Exception) for r in first) == 1
    assert sum(isinstance(r, DuplicateTaskError) for r in first) == 49
    assert all(not isinstance(r, Exception) and r.state is TaskState.PENDING for r in rest)
    with redis.Redis.from_url(url) as raw:
        assert raw.llen("asynq:{default}:pending") == 51


def test_concurrent_task_id_conflicts_and_validation_errors_stay_per_task(url: str) -> None:
    async def main() -> list[Any]:
        async with AsyncClient(url) as client:
            calls = []
            for n in range(60):
                if n % 3 == 0:
                    calls.append(client.enqueue(Task("t"), task_id="same", queue="q"))
                elif n % 3 == 1:
                    calls.append(client.enqueue(Task("t"), queue="bad{queue}"))
                else:
                    calls.append(client.enqueue(Task("t", {"n": n}), queue="q"))
            return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    same, bad, fine = results[0::3], results[1::3], results[2::3]
    assert sum(not isinstance(r, Exception) for r in same) == 1
    assert sum(isinstance(r, TaskIdConflictError) and r.task_id == "same" for r in same) == 19
    assert all(isinstance(r, ValidationError) for r in bad)
    assert all(not isinstance(r, Exception) for r in fine)
    with redis.Redis.from_url(url) as raw:
        assert raw.llen("asynq:{q}:pending") == 21


def test_scripts_flushed_mid_run_are_reloaded_for_every_waiting_caller(url: str) -> None:
    async def main() -> list[Any]:
        async with AsyncClient(url) as client:
            await client.enqueue(Task("warm"))
            with redis.Redis.from_url(url) as raw:
                raw.script_flush()
            return await asyncio.gather(
                *(client.enqueue(Task("t")) for _ in range(30)), return_exceptions=True
            )

    results = asyncio.run(main())
    assert all(not isinstance(r, Exception) for r in results)


def test_a_server_that_stops_answering_fails_every_waiting_caller_within_the_timeout(
    real_server_factory,
) -> None:
    srv = real_server_factory()
    opt = RedisConnOpt.from_url(srv.url, socket_timeout_s=0.5)

    async def main() -> tuple[list[Any], float]:
        async with AsyncClient(opt) as client:
            await client.enqueue(Task("warm"))
            os.kill(srv.proc.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                results = await asyncio.wait_for(
                    asyncio.gather(*(client.enqueue(Task("t")) for _ in range(10)), return_exceptions=True),
                    10,
                )
                elapsed = time.monotonic() - started
            finally:
                os.kill(srv.proc.pid, signal.SIGCONT)
            # The broken connection is replaced on the next call.
            assert (await client.enqueue(Task("after"))).state is TaskState.PENDING
            return results, elapsed

    results, elapsed = asyncio.run(main())
    assert all(isinstance(r, RedisUnavailableError) for r in results)
    assert elapsed < 5


@pytest.mark.parametrize("unix", [False, True], ids=["tcp", "unix"])
def test_a_server_that_stops_answering_fails_a_blocking_caller_within_the_timeout(
    real_server_factory, tmp_path, unix: bool
) -> None:
    # The blocking sockets leave their timeout to the kernel (SO_RCVTIMEO), not to Python.
    path = tmp_path / "r.sock"
    srv = real_server_factory(extra=("--unixsocket", str(path)))
    url = f"unix://{path}" if unix else srv.url
    with Client(RedisConnOpt.from_url(url, socket_timeout_s=0.5)) as client:
        client.enqueue(Task("warm"))
        (direct,) = client._broker._direct._idle
        assert direct.sock.gettimeout() is None
        os.kill(srv.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(RedisUnavailableError, match="socket timeout"):
                client.enqueue(Task("t"))
            elapsed = time.monotonic() - started
        finally:
            os.kill(srv.proc.pid, signal.SIGCONT)
        assert 0.4 < elapsed < 5
        # The timed-out socket is dropped; the next call gets a new one.
        assert client.enqueue(Task("after")).state is TaskState.PENDING


def test_a_restarted_server_is_reconnected_to_and_callers_in_flight_get_an_error(real_server_factory) -> None:
    srv = real_server_factory()

    async def main() -> None:
        async with AsyncClient(srv.url) as client:
            await client.enqueue(Task("warm"))
            srv.stop()
            with pytest.raises(RedisUnavailableError):
                await client.enqueue(Task("down"))
            srv.start()
            assert (await client.enqueue(Task("back"))).state is TaskState.PENDING

    asyncio.run(main())
    with Client(srv.url) as client:
        client.enqueue(Task("warm"))
        srv.stop()
        with pytest.raises(RedisUnavailableError):
            client.enqueue(Task("down"))
        srv.start()
        assert client.enqueue(Task("back")).state is TaskState.PENDING


def test_an_idle_connection_closed_by_the_server_is_replaced_before_use(url: str) -> None:
    with Client(url) as client, redis.Redis.from_url(url) as admin:
        client.enqueue(Task("warm"))
        admin.client_kill_filter(_type="normal", skipme=True)
        time.sleep(0.1)
        assert client.enqueue(Task("after")).state is TaskState.PENDING


def test_a_forked_child_opens_sockets_of_its_own(url: str) -> None:
    # Replies to a child's commands on its parent's socket could reach the parent instead.
    with Client(url) as client:
        client.enqueue(Task("parent"))
        (inherited,) = client._broker._direct._idle

        def child() -> str:
            client.enqueue(Task("child"))
            (own,) = client._broker._direct._idle
            return "inherited" if own is inherited else "own"

        assert in_forked_child(child) == "own"
        assert client.enqueue(Task("parent again")).state is TaskState.PENDING
        assert client._broker._direct._idle == [inherited]
    with redis.Redis.from_url(url) as raw:
        assert raw.llen("asynq:{default}:pending") == 3


def test_password_and_database_come_from_the_url(real_server_factory) -> None:
    srv = real_server_factory()
    with redis.Redis(port=srv.port) as admin:
        admin.config_set("requirepass", "s3cret")
    url = f"redis://:s3cret@127.0.0.1:{srv.port}/3"

    async def enqueue_async() -> str:
        async with AsyncClient(url) as client:
            return (await client.enqueue(Task("a"))).id

    async_id = asyncio.run(enqueue_async())
    with Client(url) as client:
        sync_id = client.enqueue(Task("s")).id
    with redis.Redis(port=srv.port, password="s3cret", db=3) as raw:
        assert set(raw.lrange("asynq:{default}:pending", 0, -1)) == {async_id.encode(), sync_id.encode()}
    with pytest.raises(RedisUnavailableError, match="authentication"):
        asyncio.run(AsyncClient(f"redis://:wrong@127.0.0.1:{srv.port}/0").enqueue(Task("x")))


def test_unix_socket(real_server_factory, tmp_path) -> None:
    path = tmp_path / "r.sock"
    real_server_factory(extra=("--unixsocket", str(path)))

    async def enqueue_async() -> TaskState:
        async with AsyncClient(f"unix://{path}") as client:
            return (await client.enqueue(Task("a"))).state

    assert asyncio.run(enqueue_async()) is TaskState.PENDING
    with Client(f"unix://{path}") as client:
        assert client.enqueue(Task("s")).state is TaskState.PENDING


# The connection of a loop that asyncio.run has closed can no longer be closed cleanly; it is
# dropped and left to the collector (redis-py's asyncio client fails outright here).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_one_async_client_serves_successive_event_loops(url: str) -> None:
    """Each loop's connection is closed as that loop ends: a closed loop can no longer close it, so
    before, each was left open in a reference cycle until the garbage collector warned about it
    during whichever test ran then."""
    client = AsyncClient(url)
    with redis.Redis.from_url(url) as raw:
        before = len(raw.client_list())
        for _ in range(3):
            assert asyncio.run(client.enqueue(Task("t"))).state is TaskState.PENDING
            assert wait_for(lambda: len(raw.client_list()) == before, 5, "the loop's connection to close")
        asyncio.run(client.aclose())


def test_threads_share_a_sync_client(url: str) -> None:
    errors: list[BaseException] = []
    with Client(url) as client:

        def work() -> None:
            try:
                for _ in range(50):
                    client.enqueue(Task("t"))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert not errors
    with redis.Redis.from_url(url) as raw:
        assert raw.llen("asynq:{default}:pending") == 400


def test_calls_ending_in_wait_share_one_wait_per_write(url: str) -> None:
    # No replicas: each WAIT runs to its 300 ms timeout. One after another, 40 of them would take
    # 12 s; sent after all of the write's other commands, one serves every call in it.
    async def main() -> tuple[list[list[Any]], list[Any], float]:
        conn = PipelinedConnection(RedisConnOpt.from_url(url, socket_timeout_s=5))
        try:
            await conn.execute([("PING",)])
            started = time.monotonic()
            waited = [conn.execute([("SET", f"k{i}", i), ("WAIT", 1, 300)]) for i in range(40)]
            plain = conn.execute([("INCR", "n")])
            results = await asyncio.gather(*waited)
            return results, await plain, time.monotonic() - started
        finally:
            conn.close()

    results, plain, elapsed = asyncio.run(main())
    assert results == [[b"OK", 0]] * 40
    assert plain == [1]
    assert 0.25 < elapsed < 3


def test_replicated_enqueues_keep_per_task_outcomes_when_auto_pipelined(url: str) -> None:
    # No replica: every WAIT times out. Forty concurrent replicated enqueues share one WAIT per
    # write (40 x 0.3 s one after another would outlast the 5 s socket timeout), and each caller
    # still gets its own outcome: the unique lock's loser its DuplicateTaskError, the others a
    # NotReplicatedError naming their own task, stored all the same.
    async def main() -> tuple[list[Any], float]:
        async with AsyncClient(url, durability="replicated", replication_timeout_s=0.3) as client:
            started = time.monotonic()
            calls = [client.enqueue(Task("r", {"n": n}), queue="rq", task_id=f"id{n}") for n in range(38)]
            calls += [client.enqueue(Task("u"), queue="rq", unique=60) for _ in range(2)]
            results = await asyncio.gather(*calls, return_exceptions=True)
            return results, time.monotonic() - started

    results, elapsed = asyncio.run(main())
    assert elapsed < 3
    for n, result in enumerate(results[:38]):
        assert isinstance(result, NotReplicatedError)
        assert result.task_id == f"id{n}"
    assert sorted(type(r).__name__ for r in results[38:]) == ["DuplicateTaskError", "NotReplicatedError"]
    with redis.Redis.from_url(url) as raw:
        assert raw.llen("asynq:{rq}:pending") == 39


def test_a_connection_opened_for_cancelled_callers_is_closed_with_the_client(url: str, monkeypatch) -> None:
    """Callers cancelled while the connection opens leave it to the client, whose close ends it
    (before, it was orphaned and the garbage collector warned about an unclosed socket)."""
    unraisable: list[str] = []
    monkeypatch.setattr("sys.unraisablehook", lambda report: unraisable.append(str(report.exc_value)))
    gc.collect()  # what earlier tests left behind is theirs, not this test's
    unraisable.clear()

    async def cancel_then_close() -> None:
        conn = PipelinedConnection(RedisConnOpt.from_url(url))
        calls = [asyncio.ensure_future(conn.execute([("PING",)])) for _ in range(3)]
        await asyncio.sleep(0)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        await asyncio.sleep(0.1)  # the shared opening completes with no caller left
        conn.close()

    for _ in range(3):
        asyncio.run(cancel_then_close())
        gc.collect()
    assert unraisable == []


def test_a_dropped_client_in_a_reference_cycle_closes_its_sockets_quietly(url: str, monkeypatch) -> None:
    unraisable: list[str] = []
    monkeypatch.setattr("sys.unraisablehook", lambda report: unraisable.append(str(report.exc_value)))
    gc.collect()
    unraisable.clear()
    for _ in range(5):
        client = Client(url)
        client.enqueue(Task("x"))
        client.cycle = client  # type: ignore[attr-defined]
        del client
        gc.collect()
    assert unraisable == []


def test_a_standalone_server_is_used_without_importing_redis_py(url: str) -> None:
    # The command line pays about 100 ms for importing redis-py; one server never needs it.
    code = (
        "import sys\n"
        "from asynq_py.engine import Client, Inspector, Task\n"
        f"with Client({url!r}) as client:\n"
        "    client.enqueue(Task('guard'))\n"
        f"with Inspector({url!r}) as inspector:\n"
        "    assert [t.type for t in inspector.list_pending_tasks('default')] == ['guard']\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'opentelemetry')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
