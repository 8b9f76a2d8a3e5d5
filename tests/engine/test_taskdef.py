"""Typed task definitions: checked arguments, canonical Go JSON payloads, and the worker's second check."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import wait_for
from typed_args import Address, Color, Order

from asynq_py.engine import (
    Client,
    Inspector,
    ServeMux,
    Server,
    ServerConfig,
    SkipRetry,
    Task,
    TaskContext,
    TaskState,
    ValidationError,
)


def _mux() -> tuple[ServeMux, list[dict[str, Any]]]:
    mux = ServeMux()
    calls: list[dict[str, Any]] = []

    @mux.task("email:deliver", queue="critical", max_retry=5)
    async def deliver(ctx: TaskContext, user_id: int, subject: str = "", cc: list[str] | None = None) -> None:
        calls.append({"type": "email:deliver", "user_id": user_id, "subject": subject, "cc": cc})

    @mux.task("order:ship")
    def ship(
        ctx: TaskContext,
        order: Order,
        when: datetime,
        color: Color = Color.RED,
        weights: dict[str, float] | None = None,
    ) -> bytes:
        calls.append({"type": "order:ship", "order": order, "when": when, "color": color, "weights": weights})
        return b"shipped"

    return mux, calls


def _defs(mux: ServeMux) -> dict[str, Any]:
    return {d.type: d for d in mux.task_defs()}


def test_task_encodes_arguments_as_canonical_go_json_with_defaults() -> None:
    mux, _ = _mux()
    deliver = _defs(mux)["email:deliver"]
    task = deliver.task(42, subject="hi <you>")
    # Keys sorted by bytes, compact, <> escaped as Go does; defaults are part of the payload.
    assert task.raw_payload == b'{"cc":null,"subject":"hi \\u003cyou\\u003e","user_id":42}'
    assert task.type == "email:deliver"
    assert (task.options.queue, task.options.max_retry) == ("critical", 5)
    # The same arguments however they are passed: same bytes, so unique locks agree.
    assert deliver.task(user_id=42, subject="hi <you>", cc=None).raw_payload == task.raw_payload


def test_nested_dataclasses_datetimes_enums_dicts_round_trip() -> None:
    mux, _ = _mux()
    ship = _defs(mux)["order:ship"]
    when = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)
    order = Order("sku-1", Address("Paris", 75001), ["fragile"])
    task = ship.task(order, when, color=Color.BLUE, weights={"a": 1.5})
    assert task.raw_payload == (
        b'{"color":"blue","order":{"ship_to":{"city":"Paris","zip_code":75001},"sku":"sku-1",'
        b'"tags":["fragile"]},"weights":{"a":1.5},"when":"2026-12-03T10:30:00Z"}'
    )
    assert ship.decode(task.raw_payload) == {
        "order": order,
        "when": when,
        "color": Color.BLUE,
        "weights": {"a": 1.5},
    }


def test_arguments_given_as_json_values_are_stored_canonical() -> None:
    mux, _ = _mux()
    ship = _defs(mux)["order:ship"]
    # As the CLI gives them: a dict for the dataclass, a string for the datetime and the enum.
    by_name = ship.task_from_mapping(
        {"order": {"sku": "s", "ship_to": {"city": "c"}}, "when": "2026-01-01T00:00:00Z", "color": "blue"}
    )
    typed = ship.task(Order("s", Address("c")), datetime(2026, 1, 1, tzinfo=UTC), Color.BLUE)
    assert by_name.raw_payload == typed.raw_payload
    assert b'"zip_code":0' in (typed.raw_payload or b"")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda d: d.task(user_id="42"),
            "task 'email:deliver': argument 'user_id': Expected `int`, got `str`",
        ),
        (lambda d: d.task(user_id=1, cc=[1]), "argument 'cc': Expected `str`, got `int` (at [0])"),
        (lambda d: d.task(subject="x"), "task 'email:deliver': missing a required argument: 'user_id'"),
        (lambda d: d.task(user_id=1, usr=2), "got an unexpected keyword argument 'usr'"),
        (lambda d: d.task(1, "s", None, 4), "too many positional arguments"),
        (lambda d: d.task(user_id=object()), "task 'email:deliver': Encoding objects of type object"),
    ],
)
def test_bad_arguments_raise_validation_error_naming_them(call: Callable[[Any], Any], message: str) -> None:
    mux, _ = _mux()
    with pytest.raises(ValidationError) as caught:
        call(_defs(mux)["email:deliver"])
    assert message in str(caught.value)


def test_nested_and_enum_errors_name_the_argument_and_the_path() -> None:
    mux, _ = _mux()
    ship = _defs(mux)["order:ship"]
    now = datetime.now(UTC)
    with pytest.raises(ValidationError) as caught:
        ship.task({"sku": "s", "ship_to": {"city": 5}}, now)
    assert (
        str(caught.value)
        == "task 'order:ship': argument 'order': Expected `str`, got `int` (at .ship_to.city)"
    )
    with pytest.raises(ValidationError, match="argument 'color': Invalid enum value 'green'"):
        ship.task(Order("s", Address("c")), now, color="green")


def test_validation_fails_before_any_redis_call() -> None:
    mux, _ = _mux()
    deliver = _defs(mux)["email:deliver"]
    # Nothing listens on port 1: reaching Redis would be a RedisUnavailableError, not a ValidationError.
    with Client("redis://127.0.0.1:1/0") as client, pytest.raises(ValidationError, match="'user_id'"):
        client.enqueue(deliver.task(user_id=None))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "task 'email:deliver': payload is not JSON: JSON is malformed"),
        (b"[1]", "task 'email:deliver': Expected `object`, got `array`"),
        (b'{"user_id":"42"}', "argument 'user_id': Expected `int`, got `str`"),
        (b'{"subject":"x"}', "Object missing required field `user_id`"),
        (b'{"user_id":1,"extra":2}', "Object contains unknown field `extra`"),
        (None, "Object missing required field `user_id`"),
    ],
)
def test_decode_rejects_payloads_that_do_not_fit(payload: bytes | None, message: str) -> None:
    mux, _ = _mux()
    with pytest.raises(ValidationError) as caught:
        _defs(mux)["email:deliver"].decode(payload)
    assert message in str(caught.value)


def test_decode_accepts_what_go_would_send() -> None:
    mux, _ = _mux()
    deliver = _defs(mux)["email:deliver"]
    assert deliver.decode(b'{"user_id":42,"subject":"hi"}') == {"user_id": 42, "subject": "hi", "cc": None}
    assert deliver.decode(b'{"subject":"hi","user_id":42, "cc": ["a"]}')["cc"] == ["a"]


def test_a_task_without_arguments_takes_no_payload() -> None:
    mux = ServeMux()

    @mux.task("tick")
    def tick(ctx: TaskContext) -> None: ...

    assert tick.task().raw_payload == b"{}"
    assert tick.decode(None) == {} == tick.decode(b"")


def test_handler_turns_a_bad_payload_into_skip_retry() -> None:
    mux, calls = _mux()
    handler = mux.resolve("order:ship")
    ctx = TaskContext("id", "q", 0, 25, datetime.now(UTC))
    with pytest.raises(
        SkipRetry, match=r"^invalid payload: task 'order:ship': Object missing required field"
    ):
        handler(ctx, Task("order:ship", {"when": "2026-01-01T00:00:00Z"}))
    assert calls == []


@pytest.mark.parametrize(
    ("define", "message"),
    [
        ("def f(ctx, *args: int) -> None: ...", "argument 'args' has no name in JSON"),
        ("def f(ctx, **kw: int) -> None: ...", "argument 'kw' has no name in JSON"),
        ("def f(ctx, a: int, /) -> None: ...", "argument 'a' has no name in JSON"),
        ("def f(ctx, a: 'Missing') -> None: ...", "cannot resolve the argument types"),
        ("def f(ctx, a: threading.Lock) -> None: ...", "task 't': Type '"),
        ("def f() -> None: ...", "must take the task context first"),
    ],
)
def test_definitions_that_cannot_be_checked_are_refused(define: str, message: str) -> None:
    namespace: dict[str, Any] = {"threading": threading}
    exec(define, namespace)
    mux = ServeMux()
    with pytest.raises(ValidationError, match=message):
        mux.task("t")(namespace["f"])
    assert mux.task_defs() == []


def test_bad_default_options_and_duplicates_are_refused() -> None:
    mux = ServeMux()
    with pytest.raises(ValidationError, match="unknown enqueue option 'max_retries'"):
        mux.task("t", max_retries=1)(lambda ctx: None)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="task type must not be blank"):
        mux.task(" ")(lambda ctx: None)
    mux.task("t")(lambda ctx: None)
    with pytest.raises(ValidationError, match="already registered"):
        mux.task("t")(lambda ctx: None)


def test_signature_and_repr() -> None:
    mux, _ = _mux()
    deliver = _defs(mux)["email:deliver"]
    assert deliver.signature == "(user_id: int, subject: str = '', cc: list[str] | None = None)"
    assert deliver.is_async
    assert not _defs(mux)["order:ship"].is_async
    assert repr(deliver).startswith("TaskDef('email:deliver', _mux.<locals>.deliver(user_id: int")


# --- on a real server -------------------------------------------------------------------------------

FAST = {
    "heartbeat_interval_s": 0.5,
    "delayed_task_check_interval_s": 0.3,
    "task_check_interval_s": 0.2,
    "shutdown_timeout_s": 2.0,
    "retry_delay_func": lambda n, exc, task: 0.0,
}


@pytest.fixture
def served(real_redis_url: str, queue: str) -> Iterator[tuple[Client, Inspector, list[dict[str, Any]]]]:
    mux, calls = _mux()

    @mux.handle_func("plain")
    def plain(ctx: TaskContext, task: Task) -> None:
        calls.append({"type": "plain", "n": task.payload.get_int("n")})

    server = Server(real_redis_url, ServerConfig(queues={queue: 1}, concurrency=4, **FAST))
    server.start(mux)
    try:
        with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
            yield client, inspector, calls
    finally:
        server.shutdown()


@pytest.mark.real
def test_typed_tasks_run_with_their_arguments_beside_plain_handlers(served, queue) -> None:
    client, inspector, calls = served
    mux, _ = _mux()
    defs = _defs(mux)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    order = Order("sku", Address("Oslo", 150), ["a", "b"])
    client.enqueue(defs["email:deliver"].task(7, cc=["x@y"]), queue=queue)
    shipped = client.enqueue(defs["order:ship"].task(order, when, Color.BLUE), queue=queue, retention=60)
    client.enqueue(Task("plain", {"n": 3}), queue=queue)
    wait_for(lambda: len(calls) == 3, what="three handlers")
    by_type = {c["type"]: c for c in calls}
    assert by_type["email:deliver"] == {"type": "email:deliver", "user_id": 7, "subject": "", "cc": ["x@y"]}
    assert by_type["order:ship"] == {
        "type": "order:ship",
        "order": order,
        "when": when,
        "color": Color.BLUE,
        "weights": None,
    }
    assert by_type["plain"] == {"type": "plain", "n": 3}
    done = wait_for(lambda: inspector.get_task_info(queue, shipped.id).result)
    assert done == b"shipped"


@pytest.mark.real
def test_a_payload_that_does_not_fit_is_archived_after_one_attempt(served, queue) -> None:
    client, inspector, calls = served
    # What a Go client with a stale struct might send: the right type, the wrong payload.
    bad = client.enqueue(Task("email:deliver", {"user_id": "42"}), queue=queue, max_retry=25)
    info = wait_for(
        lambda: (i := inspector.get_task_info(queue, bad.id)).state is TaskState.ARCHIVED and i,
        what="archived",
    )
    assert info.retried == 0
    assert info.last_error == (
        "invalid payload: task 'email:deliver': argument 'user_id': Expected `int`, got `str`"
    )
    assert calls == []
    stats = inspector.get_queue_info(queue)
    assert (stats.processed, stats.failed, stats.archived) == (1, 1, 1)


def test_process_in_and_options_combine_with_task_defaults() -> None:
    mux, _ = _mux()
    task = _defs(mux)["email:deliver"].task(user_id=1)
    assert task.options.queue == "critical"
    # Options given at enqueue still override the definition's defaults (checked without Redis here).
    overridden = Task("x", queue="a", process_in=timedelta(seconds=5))
    assert overridden.options.process_in == timedelta(seconds=5)
