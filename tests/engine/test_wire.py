"""Golden bytes for the protobuf messages, built by hand from the docs/wire.md §3.1."""

from __future__ import annotations

import contextlib
import os
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynq_py.engine.errors import DecodeError
from asynq_py.engine.wire import (
    GO_ZERO_TIME_SECONDS,
    NewTaskEncoder,
    SchedulerEntry,
    ServerInfo,
    TaskMessage,
    decode_scheduler_entry,
    decode_scheduler_event,
    decode_server_info,
    decode_task_message,
    decode_worker_info,
    encode_scheduler_entry,
    encode_server_info,
    encode_task_message,
)


def field(number: int, wire: int) -> bytes:
    return bytes([(number << 3) | wire])


def string(number: int, value: bytes) -> bytes:
    return field(number, 2) + bytes([len(value)]) + value


def varint(number: int, value: int) -> bytes:
    out = bytearray(field(number, 0))
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


GOLDEN = [
    (TaskMessage(type="t"), string(1, b"t")),
    (
        TaskMessage(
            type="email:deliver", payload=b'{"user_id":42}', id="abc", queue="default", retry=25, timeout=1800
        ),
        string(1, b"email:deliver")
        + string(2, b'{"user_id":42}')
        + string(3, b"abc")
        + string(4, b"default")
        + varint(5, 25)
        + varint(8, 1800),
    ),
    (
        TaskMessage(
            type="t",
            payload=b"p",
            id="i",
            queue="q",
            retry=3,
            retried=2,
            error_msg="boom",
            last_failed_at=1700000000,
            timeout=60,
            deadline=1700000600,
            unique_key="asynq:{q}:unique:t:83878c91171338902e0fe0fb97a8c47a",
            group_key="g",
            retention=3600,
            completed_at=1700000100,
            headers={"k": "v"},
        ),
        string(1, b"t")
        + string(2, b"p")
        + string(3, b"i")
        + string(4, b"q")
        + varint(5, 3)
        + varint(6, 2)
        + string(7, b"boom")
        + varint(8, 60)
        + varint(9, 1700000600)
        + string(10, b"asynq:{q}:unique:t:83878c91171338902e0fe0fb97a8c47a")
        + varint(11, 1700000000)
        + varint(12, 3600)
        + varint(13, 1700000100)
        + string(14, b"g")
        + string(15, string(1, b"k") + string(2, b"v")),
    ),
]


@pytest.mark.parametrize(("msg", "expected"), GOLDEN)
def test_task_message_golden_bytes(msg: TaskMessage, expected: bytes) -> None:
    assert encode_task_message(msg) == expected
    assert decode_task_message(expected) == msg


_int32 = st.integers(-(2**31), 2**31 - 1)
_int64 = st.integers(-(2**63), 2**63 - 1)


# The fields a new task's message has, and those that only a task that ran has.
_NEW_TASK_FIELDS = {
    "type": st.text(),
    "payload": st.binary(),
    "id": st.text(),
    "queue": st.text(),
    "retry": _int32,
    "timeout": _int64,
    "deadline": _int64,
    "unique_key": st.text(),
    "group_key": st.text(),
    "retention": _int64,
    "headers": st.dictionaries(st.text(), st.text(), max_size=4),
}
_RUN_FIELDS = {"retried": _int32, "error_msg": st.text(), "last_failed_at": _int64, "completed_at": _int64}


@settings(max_examples=300, deadline=None)
@given(st.builds(TaskMessage, **_NEW_TASK_FIELDS, **_RUN_FIELDS))
def test_any_task_message_decodes_to_itself(msg: TaskMessage) -> None:
    # The encoder is written by hand; the decoder is protobuf's own.
    assert decode_task_message(encode_task_message(msg)) == msg


@settings(max_examples=300, deadline=None)
@given(st.builds(TaskMessage, **_NEW_TASK_FIELDS))
def test_a_new_tasks_message_encodes_the_same_through_its_shared_fields(msg: TaskMessage) -> None:
    encoder = NewTaskEncoder(
        msg.type, msg.queue, msg.retry, msg.timeout, msg.deadline, msg.retention, msg.group_key
    )
    assert encoder.encode(msg.payload, msg.id, msg.unique_key, msg.headers) == encode_task_message(msg)


def test_zero_values_are_not_serialized() -> None:
    assert encode_task_message(TaskMessage(type="", payload=b"", retry=0)) == b""


def test_server_info_round_trip_and_zero_time() -> None:
    started = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    info = ServerInfo("h", 12, "sid", 8, {"critical": 6, "default": 3}, True, "active", started, 2)
    assert decode_server_info(encode_server_info(info)) == info


def test_scheduler_entry_never_is_go_zero_time() -> None:
    entry = SchedulerEntry(
        "id", "@every 1s", "t", b"", ('Queue("q")',), datetime(2026, 1, 1, tzinfo=UTC), None
    )
    data = encode_scheduler_entry(entry)
    assert varint(1, GO_ZERO_TIME_SECONDS & (2**64 - 1)) in data  # seconds of prev_enqueue_time
    assert decode_scheduler_entry(data) == entry


@pytest.mark.parametrize(
    "decode",
    [
        decode_task_message,
        decode_server_info,
        decode_worker_info,
        decode_scheduler_entry,
        decode_scheduler_event,
    ],
)
def test_decoders_raise_only_decode_error(decode) -> None:
    rng = random.Random(int(os.environ.get("FUZZ_SEED", "7")))
    for _ in range(3000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        with contextlib.suppress(DecodeError):
            decode(data)
