"""Payload's bytes behaviour, its typed getters and their errors, and encode_payload."""

from __future__ import annotations

import json
import operator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from asynq_py.engine.errors import PayloadError, ValidationError
from asynq_py.engine.payload import Payload, encode_payload


def _payload(**values: Any) -> Payload:
    return Payload(json.dumps(values).encode())


# --- bytes behaviour ---


def test_bytes_len_and_equality() -> None:
    p = Payload(b'{"a":1}')
    assert bytes(p) == b'{"a":1}'
    assert len(p) == 7
    assert p == Payload(b'{"a":1}')
    assert p == b'{"a":1}'
    assert operator.eq(b'{"a":1}', p)  # bytes defers to Payload.__eq__
    assert p != b"other"
    assert p != '{"a":1}'
    assert hash(p) == hash(b'{"a":1}')
    assert {p, Payload(b'{"a":1}')} == {p}


def test_accepts_bytearray_and_memoryview_as_a_copy() -> None:
    source = bytearray(b"abc")
    p = Payload(source)
    source[0] = ord("z")
    assert bytes(p) == b"abc"
    assert Payload(memoryview(b"xyz")) == b"xyz"


def test_refuses_non_bytes() -> None:
    with pytest.raises(TypeError, match="Payload needs bytes, not int"):
        Payload(5)


def test_repr_is_short() -> None:
    assert repr(Payload(b"hi")) == "Payload(b'hi')"
    long_repr = repr(Payload(b"x" * 10_000))
    assert long_repr == f"Payload({b'x' * 40!r}... 10000 bytes)"


# --- json() ---


def test_json_parses_once_and_returns_a_copy() -> None:
    p = Payload(b'{"a":[1,2.5,"s",null,true]}')
    first = p.json()
    assert first == {"a": [1, 2.5, "s", None, True]}
    first["a"].append("mutated")
    assert p.json() == {"a": [1, 2.5, "s", None, True]}


def test_json_of_non_object() -> None:
    assert Payload(b"[1,2]").json() == [1, 2]
    assert Payload(b'"s"').json() == "s"


@pytest.mark.parametrize(
    "data", [b"", b"{", b"not json", b'{"a":NaN}', b"[Infinity]", b"1e400", b"\xef\xbb\xbf{}"]
)
def test_json_refuses_what_go_refuses(data: bytes) -> None:
    with pytest.raises(PayloadError, match="payload is not valid JSON"):
        Payload(data).json()


def test_invalid_utf8_inside_strings_is_replaced_as_go_does() -> None:
    assert Payload(b'{"s":"a\xffb"}').get_string("s") == "a\ufffdb"


# --- object-level errors ---


@pytest.mark.parametrize("data", [b"[1]", b'"s"', b"42", b"null"])
def test_getters_need_a_json_object(data: bytes) -> None:
    p = Payload(data)
    with pytest.raises(PayloadError, match=r"^payload is not a JSON object$"):
        p.get_string("k")
    with pytest.raises(PayloadError, match=r"^payload is not a JSON object$"):
        p.has("k")


def test_has() -> None:
    p = _payload(a=None)
    assert p.has("a")
    assert not p.has("b")


def test_missing_key() -> None:
    with pytest.raises(PayloadError, match=r'^payload has no key "user_id"$') as info:
        _payload(other=1).get_int("user_id")
    assert isinstance(info.value, ValidationError)


# --- scalar getters ---


def test_get_string() -> None:
    assert _payload(name="Zoë").get_string("name") == "Zoë"


def test_get_int_accepts_integral_numbers() -> None:
    p = Payload(b'{"a":42,"b":42.0,"c":-7,"d":1e3,"e":123456789012345678901234567890}')
    assert [p.get_int(k) for k in "abcde"] == [42, 42, -7, 1000, 123456789012345678901234567890]
    assert type(p.get_int("b")) is int


def test_get_float() -> None:
    p = Payload(b'{"a":42.5,"b":3,"c":-1e-7}')
    assert p.get_float("a") == 42.5
    assert p.get_float("b") == 3.0
    assert type(p.get_float("b")) is float
    assert p.get_float("c") == -1e-7


def test_get_bool() -> None:
    p = _payload(yes=True, no=False)
    assert p.get_bool("yes") is True
    assert p.get_bool("no") is False


@pytest.mark.parametrize(
    ("getter", "raw", "message"),
    [
        ("get_string", "42", 'payload key "k": expected a string, got number 42'),
        ("get_string", "null", 'payload key "k": expected a string, got null'),
        ("get_int", '"abc"', 'payload key "k": expected an int, got string "abc"'),
        ("get_int", "42.5", 'payload key "k": expected an int, got number 42.5'),
        ("get_int", "true", 'payload key "k": expected an int, got bool true'),
        ("get_int", "[1]", 'payload key "k": expected an int, got array [1]'),
        ("get_float", '"1.5"', 'payload key "k": expected a number, got string "1.5"'),
        ("get_float", "false", 'payload key "k": expected a number, got bool false'),
        ("get_float", "1" + "0" * 400, 'payload key "k": expected a number, got number 1000000000'),
        ("get_bool", "1", 'payload key "k": expected a bool, got number 1'),
        ("get_bool", '"true"', 'payload key "k": expected a bool, got string "true"'),
    ],
)
def test_scalar_getter_errors(getter: str, raw: str, message: str) -> None:
    with pytest.raises(PayloadError) as info:
        getattr(Payload(b'{"k":' + raw.encode() + b"}"), getter)("k")
    assert str(info.value).startswith(message)


def test_long_values_are_cut_short_in_messages() -> None:
    with pytest.raises(PayloadError) as info:
        _payload(k="x" * 500).get_int("k")
    assert str(info.value) == 'payload key "k": expected an int, got string "' + "x" * 36 + "..."


# --- slices and maps ---


def test_get_string_slice_and_int_slice() -> None:
    p = Payload(b'{"s":["a","b"],"i":[1,2.0,-3],"e":[]}')
    assert p.get_string_slice("s") == ["a", "b"]
    assert p.get_int_slice("i") == [1, 2, -3]
    assert p.get_string_slice("e") == []


def test_get_string_map_returns_a_copy() -> None:
    p = _payload(m={"a": [1], "b": {"c": None}})
    first = p.get_string_map("m")
    assert first == {"a": [1], "b": {"c": None}}
    first["a"].append(2)
    assert p.get_string_map("m") == {"a": [1], "b": {"c": None}}


def test_typed_map_getters() -> None:
    p = _payload(s={"a": "x"}, i={"a": 1, "b": 2.0}, b={"a": True}, ss={"a": ["x", "y"], "b": []})
    assert p.get_string_map_string("s") == {"a": "x"}
    assert p.get_string_map_int("i") == {"a": 1, "b": 2}
    assert p.get_string_map_bool("b") == {"a": True}
    assert p.get_string_map_string_slice("ss") == {"a": ["x", "y"], "b": []}


@pytest.mark.parametrize(
    ("getter", "raw", "message"),
    [
        ("get_string_slice", '"a"', 'expected an array of strings, got string "a"'),
        ("get_string_slice", '["a",1]', "expected an array of strings, got number 1 at [1]"),
        ("get_int_slice", "[1,2,2.5]", "expected an array of ints, got number 2.5 at [2]"),
        ("get_int_slice", '{"a":1}', 'expected an array of ints, got object {"a":1}'),
        ("get_string_map", "[]", "expected an object, got array []"),
        ("get_string_map_string", '{"a":"x","b":null}', 'expected an object of strings, got null at ["b"]'),
        ("get_string_map_int", '{"a":"1"}', 'expected an object of ints, got string "1" at ["a"]'),
        ("get_string_map_bool", '{"a":0}', 'expected an object of bools, got number 0 at ["a"]'),
        ("get_string_map_bool", "true", "expected an object of bools, got bool true"),
        (
            "get_string_map_string_slice",
            '{"a":["x"],"b":["y",3]}',
            'expected an object of string arrays, got number 3 at ["b"][1]',
        ),
        (
            "get_string_map_string_slice",
            '{"a":"x"}',
            'expected an object of string arrays, got string "x" at ["a"]',
        ),
    ],
)
def test_container_getter_errors(getter: str, raw: str, message: str) -> None:
    with pytest.raises(PayloadError) as info:
        getattr(Payload(b'{"k":' + raw.encode() + b"}"), getter)("k")
    assert str(info.value) == f'payload key "k": {message}'


# --- time and duration ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-02T15:04:05Z", datetime(2026, 1, 2, 15, 4, 5, tzinfo=UTC)),
        ("2026-01-02T15:04:05.123456789Z", datetime(2026, 1, 2, 15, 4, 5, 123456, tzinfo=UTC)),
        ("2026-01-02T15:04:05.5Z", datetime(2026, 1, 2, 15, 4, 5, 500000, tzinfo=UTC)),
        (
            "2026-01-02T15:04:05.000001+05:30",
            datetime(2026, 1, 2, 15, 4, 5, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        ("2026-01-02T15:04:05-07:00", datetime(2026, 1, 2, 15, 4, 5, tzinfo=timezone(timedelta(hours=-7)))),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
    ],
)
def test_get_time(text: str, expected: datetime) -> None:
    got = _payload(t=text).get_time("t")
    assert got == expected
    assert got.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-02",
        "2026-01-02 15:04:05Z",
        "2026-01-02T15:04:05",
        "2026-01-02T15:04:05.Z",
        "2026-01-02T15:04:05z",
        "2026-02-30T15:04:05Z",
        "2026-01-02T24:00:00Z",
        "2026-01-02T15:04:60Z",
        "2026-01-02T15:04:05+24:00",
        "2026-01-02T15:04:05+01:60",
        "0000-01-01T00:00:00Z",
        "yesterday",
        1767366245,
    ],
)
def test_get_time_refuses_non_rfc3339(value: object) -> None:
    with pytest.raises(PayloadError, match=r'^payload key "t": expected an RFC 3339 time string, got '):
        _payload(t=value).get_time("t")


@pytest.mark.parametrize(
    ("nanoseconds", "expected"),
    [
        (0, timedelta(0)),
        (1_500_000_000, timedelta(seconds=1.5)),
        (1999, timedelta(microseconds=1)),
        (-1999, timedelta(microseconds=-1)),
        (3.6e12, timedelta(hours=1)),
    ],
)
def test_get_duration(nanoseconds: float, expected: timedelta) -> None:
    assert _payload(d=nanoseconds).get_duration("d") == expected


@pytest.mark.parametrize(
    ("raw", "shown"),
    [('"1h"', 'string "1h"'), ("1.5", "number 1.5"), ("1" + "0" * 30, "number 1" + "0" * 30)],
)
def test_get_duration_errors(raw: str, shown: str) -> None:
    with pytest.raises(PayloadError) as info:
        Payload(b'{"d":' + raw.encode() + b"}").get_duration("d")
    assert str(info.value) == f'payload key "d": expected an int count of nanoseconds, got {shown}'


# --- encode_payload ---


def test_encode_payload_passes_bytes_through() -> None:
    data = b"\x00\xffraw"
    assert encode_payload(data) is data
    assert encode_payload(bytearray(b"ab")) == b"ab"
    assert type(encode_payload(memoryview(b"ab"))) is bytes
    assert encode_payload(Payload(b"p")) == b"p"


def test_encode_payload_str_dict_list_none() -> None:
    assert encode_payload("héllo") == "héllo".encode()
    assert encode_payload({"user_id": 42, "a": "<b>"}) == b'{"a":"\\u003cb\\u003e","user_id":42}'
    assert encode_payload([1.0, None]) == b"[1,null]"
    assert encode_payload(None) is None


@pytest.mark.parametrize(
    ("value", "type_name"), [(42, "int"), ((1, 2), "tuple"), ({1}, "set"), (1.5, "float")]
)
def test_encode_payload_refuses_other_types(value: Any, type_name: str) -> None:
    with pytest.raises(
        ValidationError, match=rf"^payload must be bytes, str, dict, list or None, not {type_name}$"
    ):
        encode_payload(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"x": float("nan")}, "payload cannot be encoded as JSON: cannot encode the float nan"),
        ({"x": {1, 2}}, "payload cannot be encoded as JSON: cannot encode a value of type set"),
        ({1: "x"}, "payload cannot be encoded as JSON: JSON object keys must be str, not int"),
        ("\ud800", "payload string is not valid Unicode"),
    ],
)
def test_encode_payload_wraps_encoding_errors(value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        encode_payload(value)
    assert str(info.value).startswith(message)
