"""Unit tests of input parsing and output helpers (no Redis)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from limit_samples import sample_limits
from rich.console import Console

from asynq_py.cli.limit import limits_table
from asynq_py.cli.parse import check_json, parse_duration, parse_header, parse_time, read_ids, read_payload
from asynq_py.cli.render import dumps_json, escape, fmt_bytes, fmt_duration, payload_text, relative

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("24h", timedelta(hours=24)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1d12h", timedelta(hours=36)),
        ("1.5d", timedelta(hours=36)),
        ("500ms", timedelta(milliseconds=500)),
        ("0", timedelta(0)),
        (" 10s ", timedelta(seconds=10)),
    ],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "1.5", "-5m", "+5m", "5x", "h", "1h 30m", "1e3s", "d"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_times():
    assert parse_time("2026-01-02T15:04:05Z", NOW) == datetime(2026, 1, 2, 15, 4, 5, tzinfo=UTC)
    plus_two = parse_time("2026-01-02T17:04:05+02:00", NOW)
    assert plus_two.utcoffset() == timedelta(hours=2)
    assert plus_two == datetime(2026, 1, 2, 15, 4, 5, tzinfo=UTC)
    assert parse_time("+2h", NOW) == NOW + timedelta(hours=2)
    assert parse_time("now", NOW) == NOW
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2026-01-02T15:04:05", NOW)
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2026-01-02", NOW)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time("tomorrow", NOW)


def test_payloads(tmp_path):
    stdin = io.BytesIO(b' {"a": [1, 2]} \n')
    assert read_payload("-", raw=False, stdin=stdin) == b'{"a":[1,2]}'  # the library's canonical form
    assert read_payload("text", raw=True, stdin=io.BytesIO()) == b"text"
    with pytest.raises(ValueError, match=r"line 2, column 1"):
        check_json(b'{"a":\n}')
    with pytest.raises(ValueError, match="NaN is not JSON"):
        check_json(b"[NaN]")
    with pytest.raises(ValueError, match="not UTF-8"):
        check_json(b'"\xff"')
    with pytest.raises(ValueError, match="nested too deeply"):
        check_json(b"[" * 100_000)


def test_headers_and_ids():
    assert parse_header("a=b=c") == ("a", "b=c")
    with pytest.raises(ValueError):
        parse_header("=x")
    stdin = io.StringIO("x\n\n  y  \nx\n")
    assert read_ids(["a", "-", "b", "a"], stdin) == ["a", "x", "y", "b"]


def test_escape():
    assert escape("a\x1b[31mb\x07\r\n\tc\x9b\u202e\u2028") == "a\\x1b[31mb\\x07\\r\\n\\tc\\x9b\\u202e\\u2028"
    assert escape("héllo 世界 [bold]") == "héllo 世界 [bold]"


@given(st.text())
def test_escaped_text_has_no_controls(text):
    out = escape(text)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in out)


@given(
    st.recursive(
        st.text() | st.integers() | st.none(), lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids)
    )
)
def test_json_lines_are_one_line_without_raw_controls(value):
    import json

    line = dumps_json(value)
    assert "\n" not in line
    assert "\u2028" not in line
    assert "\x9b" not in line
    assert "\x1b" not in line
    assert json.loads(line) == value


def test_human_formats():
    assert [fmt_duration(s) for s in (0.25, 42, 312, 11100, 190000)] == [
        "250ms",
        "42s",
        "5m12s",
        "3h5m",
        "2d4h",
    ]
    assert relative(NOW + timedelta(minutes=5), NOW) == "in 5m"
    assert relative(NOW - timedelta(seconds=3), NOW) == "3s ago"
    assert relative(None, NOW, never="never") == "never"
    assert relative(NOW.astimezone(timezone(timedelta(hours=3))), NOW) == "now"
    assert fmt_bytes(950) == "950 B"
    assert fmt_bytes(12_345) == "12.3 kB"
    assert payload_text(b"\xff\x00") == "non-printable bytes (2)"
    assert payload_text(b"x" * 500).endswith("…")


def test_limit_ls_table_words_every_rate_and_next_start() -> None:
    console = Console(width=120, record=True, color_system=None)
    console.print(limits_table(sample_limits()))
    # Cells, not padding: Rich's column widths differ between its versions (make lowest).
    rows = [re.split(r"\s{2,}", line.strip()) for line in console.export_text().splitlines()[3:-1]]
    assert rows == [
        ["q", "-", "1/4", "100/m burst 3", "now", "5", "2", "9"],
        ["q", "a", "-", "5/s burst 5", "in 1.5s", "0", "-", "-"],
        ["q", "b", "2/2", "1/m", "in 60.0s", "3", "-", "-"],
        ["q", "c", "-", "7/2500ms burst 2", "in 1m", "0", "-", "-"],
        ["q", "d", "-", "1/h", "in 59m", "0", "-", "-"],
        ["q", "e", "0/1", "-", "-", "2", "-", "-"],
        ["q", "f", "-", "9/s", "in 0.0s", "0", "-", "-"],
        ["r", "-", "0", "2/s", "in 0.2s", "0", "0", "0"],
    ]
