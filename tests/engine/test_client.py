"""Client enqueue paths, checked against the raw Redis state docs/wire.md prescribes."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from helpers import in_forked_child
from seed import list_ids, read_message, scores, task_hash

from asynq_py.engine import (
    AsyncClient,
    AsynqError,
    BrokerError,
    Client,
    DuplicateTaskError,
    RedisUnavailableError,
    SimulatedClock,
    Task,
    TaskIdConflictError,
    TaskInfo,
    TaskState,
    ValidationError,
    rdb,
)
from asynq_py.engine.client import new_task_id
from asynq_py.engine.scripts import all_scripts


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(float(int(time.time())) + 0.25)


@pytest.fixture
def target(backend: str, redis_client: redis.Redis, request: pytest.FixtureRequest) -> str | redis.Redis:
    """What clients connect with: a URL on the real server (the broker's own lean connections),
    the fakeredis client otherwise (redis-py)."""
    return request.getfixturevalue("real_redis_url") if backend == "real" else redis_client


@pytest.fixture
def client(target: str | redis.Redis, clock: SimulatedClock) -> Iterator[Client]:
    with Client(target, clock=clock) as client:
        yield client


def test_enqueue_now_writes_pending_task(
    client: Client, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    info = client.enqueue(Task("email:deliver", {"user_id": 42}), queue="mail")
    assert info.state is TaskState.PENDING
    assert redis_client.smembers("asynq:queues") == {b"mail"}
    h = task_hash(redis_client, "mail", info.id)
    assert set(h) == {"msg", "state", "pending_since"}
    assert h["state"] == b"pending"
    assert abs(int(h["pending_since"]) - clock.now() * 1e9) < 1e6  # nanoseconds
    assert list_ids(redis_client, "mail", "pending") == [info.id]
    msg = read_message(redis_client, "mail", info.id)
    assert (msg.type, msg.payload, msg.id, msg.queue) == ("email:deliver", b'{"user_id":42}', info.id, "mail")
    assert (msg.retry, msg.timeout, msg.deadline, msg.unique_key, msg.group_key) == (25, 1800, 0, "", "")
    assert info.next_process_at == datetime.fromtimestamp(int(clock.now()), UTC)


def test_new_tasks_go_left_and_run_from_the_right(client: Client, redis_client: redis.Redis) -> None:
    first = client.enqueue(Task("a")).id
    second = client.enqueue(Task("b")).id
    assert [i.decode() for i in redis_client.lrange("asynq:{default}:pending", 0, -1)] == [second, first]


def test_enqueue_in_with_every_option(
    client: Client, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    deadline = datetime.fromtimestamp(clock.now() + 7200, UTC)
    info = client.enqueue_in(
        timedelta(minutes=10),
        Task("report", b"\x00\x01raw", headers={"trace": "1"}),
        queue="reports",
        max_retry=3,
        task_id="report-1",
        timeout=timedelta(seconds=90),
        deadline=deadline,
        unique=timedelta(hours=1),
        retention=timedelta(days=1),
        group="ignored-when-scheduled",
    )
    assert info.state is TaskState.SCHEDULED
    due = int(clock.now() + 600)
    assert scores(redis_client, "asynq:{reports}:scheduled") == {"report-1": due}
    h = task_hash(redis_client, "reports", "report-1")
    checksum = hashlib.md5(b"\x00\x01raw").hexdigest()
    unique_key = f"asynq:{{reports}}:unique:report:{checksum}"
    assert h["state"] == b"scheduled"
    assert h["unique_key"] == unique_key.encode()
    assert "pending_since" not in h
    assert "group" not in h
    msg = read_message(redis_client, "reports", "report-1")
    assert (msg.retry, msg.timeout, msg.deadline, msg.retention) == (3, 90, int(deadline.timestamp()), 86400)
    assert msg.group_key == "ignored-when-scheduled"
    assert msg.unique_key == unique_key
    assert dict(msg.headers) == {"trace": "1"}
    assert redis_client.get(unique_key) == b"report-1"
    assert 600 + 3600 - 2 <= redis_client.ttl(unique_key) <= 600 + 3600


def test_enqueue_at_is_scheduled_at_that_second(
    client: Client, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    when = datetime.fromtimestamp(clock.now() + 3600.9, UTC)
    info = client.enqueue_at(when, Task("x"))
    assert scores(redis_client, "asynq:{default}:scheduled") == {info.id: int(when.timestamp())}


def test_group_enqueue_aggregates(client: Client, redis_client: redis.Redis, clock: SimulatedClock) -> None:
    info = client.enqueue(Task("batch", b"1"), group="g1", unique=60)
    assert info.state is TaskState.AGGREGATING
    assert info.next_process_at is None
    h = task_hash(redis_client, "default", info.id)
    assert h["state"] == b"aggregating"
    assert h["group"] == b"g1"
    assert "unique_key" not in h  # Go's quirk: not stored for groups
    assert scores(redis_client, "asynq:{default}:g:g1") == {info.id: int(clock.now())}
    assert redis_client.smembers("asynq:{default}:groups") == {b"g1"}


def test_unique_lock_refuses_duplicates(client: Client, redis_client: redis.Redis) -> None:
    client.enqueue(Task("u", {"a": 1}), unique=60)
    with pytest.raises(DuplicateTaskError) as err:
        client.enqueue(Task("u", {"a": 1}), unique=60)
    assert err.value.queue == "default"
    client.enqueue(Task("u", {"a": 2}), unique=60)
    assert redis_client.llen("asynq:{default}:pending") == 2


def test_nil_and_empty_payload_have_different_locks(client: Client, redis_client: redis.Redis) -> None:
    client.enqueue(Task("n"), unique=60)
    client.enqueue(Task("n", b""), unique=60)
    assert redis_client.exists("asynq:{default}:unique:n:") == 1
    assert redis_client.exists("asynq:{default}:unique:n:d41d8cd98f00b204e9800998ecf8427e") == 1


def test_task_id_conflict(client: Client) -> None:
    client.enqueue(Task("a"), task_id="same")
    with pytest.raises(TaskIdConflictError):
        client.enqueue(Task("b"), task_id="same")
    client.enqueue(Task("b"), task_id="same", queue="other")


def test_timeout_and_deadline_defaults(
    client: Client, redis_client: redis.Redis, clock: SimulatedClock
) -> None:
    half = client.enqueue(Task("a"), timeout=0.5)
    assert (read_message(redis_client, "default", half.id).timeout, half.deadline) == (0, None)
    deadline = datetime.fromtimestamp(clock.now() + 100, UTC)
    only_deadline = client.enqueue(Task("a"), deadline=deadline)
    assert read_message(redis_client, "default", only_deadline.id).timeout == 0


def test_task_options_are_defaults_overridden_by_enqueue(client: Client, redis_client: redis.Redis) -> None:
    client.set_default_options("t", max_retry=1, queue="typeq")
    info = client.enqueue(Task("t", max_retry=2), max_retry=4)
    assert (info.queue, info.max_retry) == ("typeq", 4)
    assert client.enqueue(Task("t", max_retry=2)).max_retry == 2


def test_what_a_client_remembers_of_a_task_type_follows_its_defaults_and_each_tasks_own(
    client: Client, redis_client: redis.Redis
) -> None:
    """A client works out each task type's options once; nothing of one task leaks into another."""
    task = Task("t", headers={"a": "1"})
    assert client.enqueue(task).queue == "default"
    client.set_default_options("t", queue="later", max_retry=2)
    task.headers["b"] = "2"
    info = client.enqueue(task)
    assert (info.queue, info.max_retry, info.headers) == ("later", 2, {"a": "1", "b": "2"})
    assert read_message(redis_client, "later", info.id).headers == {"a": "1", "b": "2"}
    # Tasks made one at a time, each with options of its own (an object freed once it is stored
    # may leave its id to the next one's), with and without call options.
    made = client.enqueue_many(Task("t", queue=f"q{i}", payload=str(i)) for i in range(4))
    retried = client.enqueue_many((Task("t", queue=f"r{i}", unique=60) for i in range(4)), max_retry=7)
    assert [(x.queue, bytes(x.payload)) for x in made if isinstance(x, TaskInfo)] == [
        (f"q{i}", str(i).encode()) for i in range(4)
    ]
    assert [(x.queue, x.max_retry) for x in retried if isinstance(x, TaskInfo)] == [
        (f"r{i}", 7) for i in range(4)
    ]
    assert [read_message(redis_client, f"r{i}", x.id).unique_key for i, x in enumerate(retried)] == [
        f"asynq:{{r{i}}}:unique:t:" for i in range(4)
    ]


@pytest.mark.parametrize(
    ("task", "options", "fragment"),
    [
        (Task("  "), {}, "task type must not be blank"),
        (Task("t"), {"queue": " "}, "queue name must not be blank"),
        (Task("t"), {"queue": "a}:t:x"}, "must not contain"),
        (Task("t"), {"queue": "a\x1b[31m"}, "control character"),
        (Task("t"), {"task_id": ""}, "task id must not be blank"),
        (Task("t"), {"timeout": "1s"}, "timeout must be a timedelta or seconds"),
        (Task("t"), {"unique": 0.5}, "unique must be at least 1s"),
        (Task("t"), {"process_at": datetime(2030, 1, 1)}, "timezone-aware"),
        (Task("t"), {"retry": 3}, "unknown enqueue option 'retry'"),
        (Task("t"), {"max_retry": "3"}, "max_retry must be an int"),
        (Task("t"), {"group": ""}, "group must not be blank"),
    ],
)
def test_bad_options_are_refused_before_any_write(
    client: Client, redis_client: redis.Redis, task: Task, options: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment):
        client.enqueue(task, **options)
    assert redis_client.dbsize() == 0


def test_payload_limit(redis_client: redis.Redis) -> None:
    client = Client(redis_client, max_payload_bytes=10)
    with pytest.raises(ValidationError, match="larger than the limit"):
        client.enqueue(Task("big", b"x" * 11))
    assert redis_client.dbsize() == 0


def test_enqueue_many_reports_each_result(client: Client, redis_client: redis.Redis) -> None:
    tasks = [Task("bulk", {"n": n}) for n in range(500)] + [
        Task("bulk", task_id="dup"),
        Task("bulk", task_id="dup"),
    ]
    results = client.enqueue_many(tasks, queue="bulkq")
    assert len(results) == 502
    assert isinstance(results[-1], TaskIdConflictError)
    assert all(not isinstance(r, Exception) for r in results[:-1])
    assert redis_client.llen("asynq:{bulkq}:pending") == 501
    assert redis_client.smembers("asynq:queues") == {b"bulkq"}


def test_negative_max_retry_is_zero(client: Client) -> None:
    assert client.enqueue(Task("a"), max_retry=-5).max_retry == 0


def test_negative_durations_are_stored_as_go_stores_them(client: Client, redis_client: redis.Redis) -> None:
    """Go's client takes any time.Duration and stores int64(d.Seconds()): truncated toward zero."""
    late = client.enqueue(Task("late"), process_in=-5)
    assert late.state is TaskState.PENDING
    assert list_ids(redis_client, "default", "pending") == [late.id]
    assert redis_client.exists("asynq:{default}:scheduled") == 0
    spent = client.enqueue(Task("spent"), timeout=-1)
    assert (read_message(redis_client, "default", spent.id).timeout, spent.deadline) == (-1, None)
    assert read_message(redis_client, "default", spent.id).deadline == 0
    # Like Timeout(500ms), Timeout(-500ms) is stored as 0 and no default applies.
    cut = client.enqueue(Task("cut"), timeout=timedelta(milliseconds=-500))
    assert (read_message(redis_client, "default", cut.id).timeout, cut.timeout) == (0, None)
    kept = client.enqueue(Task("kept"), retention=-1)
    assert read_message(redis_client, "default", kept.id).retention == -1


async def test_async_client_writes_the_same(
    backend: str,
    aredis_client,
    redis_client: redis.Redis,
    clock: SimulatedClock,
    request: pytest.FixtureRequest,
) -> None:
    target = request.getfixturevalue("real_redis_url") if backend == "real" else aredis_client
    async with AsyncClient(target, clock=clock) as client:
        info = await client.enqueue(Task("a", "text"), queue="aq")
        later = await client.enqueue_in(30, Task("b"), queue="aq")
        many = await client.enqueue_many([Task("c"), Task("d")], queue="aq")
    assert read_message(redis_client, "aq", info.id).payload == b"text"
    assert scores(redis_client, "asynq:{aq}:scheduled") == {later.id: int(clock.now() + 30)}
    assert len(many) == 2
    assert redis_client.llen("asynq:{aq}:pending") == 3


def test_enqueue_many_states(client: Client, redis_client: redis.Redis, clock: SimulatedClock) -> None:
    results = client.enqueue_many([Task("now"), Task("grouped", group="g"), Task("later", process_in=60)])
    assert [r.state for r in results if not isinstance(r, Exception)] == [
        TaskState.PENDING,
        TaskState.AGGREGATING,
        TaskState.SCHEDULED,
    ]
    assert redis_client.llen("asynq:{default}:pending") == 1


def test_task_ids_are_version_4_uuids_and_a_forked_child_makes_its_own() -> None:
    # Ids come 64 to a read of the random source: a child must not hand out its parent's spares
    # (two processes would then store tasks under the same ids).
    ids = [new_task_id() for _ in range(200)]
    assert all(uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122 for i in ids)
    assert all(str(uuid.UUID(i)) == i for i in ids)
    assert len(set(ids)) == 200
    child = in_forked_child(lambda: " ".join(new_task_id() for _ in range(50))).split()
    parent = [new_task_id() for _ in range(50)]
    assert len(child) == 50
    assert not set(child) & set(parent)


def mixed_batch() -> list[Task]:
    """Tasks of every kind enqueue_many stores in one script call per queue, with each outcome."""
    return [
        Task("now", b"1", task_id="a", queue="q1"),
        Task("now", b"2", task_id="b", queue="q2", headers={"h": "1"}),
        Task("later", b"3", task_id="c", queue="q1", process_in=60),
        Task("later", b"3", task_id="cu", queue="q1", process_in=60, unique=300),
        Task("grouped", b"4", task_id="d", queue="q1", group="g"),
        Task("grouped", b"4", task_id="du", queue="q1", group="g", unique=100),
        Task("uniq", b"5", task_id="e", queue="q1", unique=100),
        Task("uniq", b"5", task_id="e2", queue="q1", unique=100),  # the lock is held
        Task("now", b"6", task_id="a", queue="q1"),  # the id exists
        Task("uniq", b"7", task_id="a", queue="q1", unique=100),  # takes the lock, then the id exists
        Task("grouped", b"8", task_id="f", queue="q1", group="broken"),  # a command of the task fails
        Task("now", b"9", task_id="g", queue="q1"),  # the tasks after a failed one are still stored
        *(Task("bulk", str(n).encode(), task_id=f"n{n}", queue="q2") for n in range(7)),
        Task("now", b"10", task_id="h", queue="q3"),  # q3's pending list is broken: its push fails
        Task("later", b"11", task_id="i", queue="q3", process_in=60),
    ]


def break_keys(r: redis.Redis) -> None:
    """Give q1's group "broken" and q3's pending list values of the wrong type."""
    r.set("asynq:{q1}:g:broken", "not a sorted set")
    r.set("asynq:{q3}:pending", "not a list")


def redis_contents(r: redis.Redis) -> dict[bytes, tuple[bytes | None, bool]]:
    """Every key's serialized value (``DUMP``: encoding included) and whether it expires."""
    return {key: (r.dump(key), r.ttl(key) > 0) for key in sorted(r.keys("*"))}


def outcome(result: TaskInfo | BaseException) -> object:
    return result if isinstance(result, TaskInfo) else type(result)


def store_mixed_batch(url: str, clock: SimulatedClock, how: str) -> list[TaskInfo | BaseException]:
    """Store ``mixed_batch()``: one ``enqueue`` at a time, by ``enqueue_many``, or by concurrent
    ``AsyncClient.enqueue`` calls (the first two go alone, the others are coalesced)."""
    if how == "concurrent":

        async def concurrently() -> list[TaskInfo | BaseException]:
            async with AsyncClient(url, clock=clock) as client:
                enqueues = (client.enqueue(task) for task in mixed_batch())
                return await asyncio.gather(*enqueues, return_exceptions=True)

        return asyncio.run(concurrently())
    with Client(url, clock=clock) as client:
        if how == "enqueue_many":
            return list(client.enqueue_many(mixed_batch()))
        results: list[TaskInfo | BaseException] = []
        for task in mixed_batch():
            try:
                results.append(client.enqueue(task))
            except AsynqError as exc:
                results.append(exc)
        return results


@pytest.mark.real
@pytest.mark.parametrize(("how", "script_calls"), [("enqueue_many", 6), ("concurrent", 2 + 6)])
def test_multi_task_calls_store_exactly_what_one_by_one_enqueues_store(
    real_redis_url: str, clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch, how: str, script_calls: int
) -> None:
    """The same tasks through the multi-task script and through one script call each leave
    byte-identical Redis contents (and publish the same wake-ups), with the same result per task."""
    monkeypatch.setattr(rdb, "ENQUEUE_MANY_CHUNK", 4)  # 4 tasks a call: q1's take 3, q2's 2, q3's 1
    r = redis.Redis.from_url(real_redis_url, socket_timeout=5)
    for lua in all_scripts().values():  # no call is refused with NOSCRIPT and counted twice
        r.script_load(lua.source)
    seen = []
    try:
        for way in ("one_by_one", how):
            r.flushdb()
            break_keys(r)
            r.config_resetstat()
            results = store_mixed_batch(real_redis_url, clock, way)
            stats = r.info("commandstats")
            scripts = int(stats["cmdstat_evalsha"]["calls"])
            seen.append((redis_contents(r), int(stats["cmdstat_publish"]["calls"]), results, scripts))
    finally:
        r.close()
    (one_by_one, wakes, singles, calls), (many, batch_wakes, results, batch_calls) = seen
    assert many == one_by_one
    assert batch_wakes == wakes == 2  # q1 and q2 each became non-empty once
    assert [outcome(x) for x in results] == [outcome(x) for x in singles]
    assert isinstance(results[6], TaskInfo)
    assert [outcome(x) for x in results[7:11]] == [
        DuplicateTaskError,
        TaskIdConflictError,
        TaskIdConflictError,
        BrokerError,
    ]
    assert "WRONGTYPE" in str(results[10])
    assert (outcome(results[-2]), type(results[-1])) == (BrokerError, TaskInfo)
    assert (calls, batch_calls) == (len(mixed_batch()), script_calls)


def test_enqueue_many_gives_each_task_its_own_result(client: Client, redis_client: redis.Redis) -> None:
    break_keys(redis_client)
    results = client.enqueue_many(mixed_batch())
    assert [type(x) for x in results[6:12]] == [
        TaskInfo,
        DuplicateTaskError,
        TaskIdConflictError,
        TaskIdConflictError,
        BrokerError,
        TaskInfo,
    ]
    assert [(x.queue, x.id) for x in results[6:12:5] if isinstance(x, TaskInfo)] == [("q1", "e"), ("q1", "g")]
    # The failed task's hash stays, as the one-task script leaves it: the step order is the contract.
    assert task_hash(redis_client, "q1", "f")["state"] == b"aggregating"
    assert redis_client.get("asynq:{q1}:unique:uniq:" + hashlib.md5(b"7").hexdigest()) == b"a"
    assert list_ids(redis_client, "q1", "pending") == ["g", "e", "a"]
    assert list_ids(redis_client, "q2", "pending") == [f"n{n}" for n in reversed(range(7))] + ["b"]
    assert [type(x) for x in results[-2:]] == [BrokerError, TaskInfo]
    assert "WRONGTYPE" in str(results[-2])
    assert task_hash(redis_client, "q3", "h")["state"] == b"pending"


def test_enqueue_many_loads_its_script_after_a_flush(client: Client, redis_client: redis.Redis) -> None:
    assert all(isinstance(x, TaskInfo) for x in client.enqueue_many([Task("t")] * 3))
    redis_client.script_flush()
    assert all(isinstance(x, TaskInfo) for x in client.enqueue_many([Task("t")] * 600))
    assert redis_client.llen("asynq:{default}:pending") == 603


async def test_coalesced_callers_keep_their_own_results(
    backend: str, aredis_client, redis_client: redis.Redis, request: pytest.FixtureRequest
) -> None:
    """Concurrent enqueues made while another is in flight go out together; each caller gets its
    own result or error, and one cancelled before the round trip began stores nothing."""
    target = request.getfixturevalue("real_redis_url") if backend == "real" else aredis_client
    async with AsyncClient(target) as client:
        await client.enqueue(Task("t"), task_id="taken", queue="cq")
        calls = [
            client.enqueue(Task("t", b"first"), queue="cq"),  # goes alone: nothing in flight
            *(client.enqueue(Task("t", f"{n}"), queue="cq") for n in range(10)),
            client.enqueue(Task("t"), task_id="taken", queue="cq"),
            client.enqueue(Task("u", b"same"), queue="cq", unique=60),
            client.enqueue(Task("u", b"same"), queue="cq", unique=60),
            client.enqueue(Task("t", b"cancelled"), queue="cq"),
            client.enqueue(Task("t", b"later"), queue="cq", process_in=60),
        ]
        tasks = [asyncio.ensure_future(call) for call in calls]
        await asyncio.sleep(0)  # every caller has handed its task in
        tasks[-2].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r) for r in results] == [
        *[TaskInfo] * 11,
        TaskIdConflictError,
        TaskInfo,
        DuplicateTaskError,
        asyncio.CancelledError,
        TaskInfo,
    ]
    assert [r.state for r in results if isinstance(r, TaskInfo)] == [TaskState.PENDING] * 12 + [
        TaskState.SCHEDULED
    ]
    stored = {read_message(redis_client, "cq", i).payload for i in list_ids(redis_client, "cq", "pending")}
    assert stored == {b"", b"first", b"same", *(f"{n}".encode() for n in range(10))}


@pytest.mark.real
async def test_coalesced_callers_each_get_the_error_of_a_failed_round_trip(real_server_factory) -> None:
    node = real_server_factory()
    async with AsyncClient(node.url) as client:
        await client.enqueue(Task("t"))
        node.stop()
        calls = (client.enqueue(Task("t")) for _ in range(20))
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 30)
    assert [type(r) for r in results] == [RedisUnavailableError] * 20
