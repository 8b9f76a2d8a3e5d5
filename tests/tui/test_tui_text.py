"""The dashboard's pure helpers: escaping, payload rendering, formats, and action wording."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from limit_samples import sample_limits

from asynq_py.engine import TaskState
from asynq_py.tui.actions import Action, ActionKind, confirm_text, refusal, result_text
from asynq_py.tui.fmt import (
    abs_time,
    clean,
    error_rate,
    go_duration,
    hex_dump,
    payload_detail,
    payload_preview,
    relative_time,
    si_bytes,
)
from asynq_py.tui.widget_limits import limits_text


class TestClean:
    @pytest.mark.parametrize(
        ("raw", "shown"),
        [
            ("plain text", "plain text"),
            ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
            ("bell\x07 nul\x00 del\x7f", "bell\\x07 nul\\x00 del\\x7f"),
            ("csi\x9b2J", "csi\\x9b2J"),
            ("osc\x1b]0;title\x07", "osc\\x1b]0;title\\x07"),
            ("a\nb\tc\rd", "a\\nb\\tc\\rd"),
            ("bidi\u202eevil\u202c", "bidi\\u202eevil\\u202c"),
            ("zero\u200bwidth", "zero\\u200bwidth"),
            ("line\u2028sep", "line\\u2028sep"),
            ("[bold]markup[/bold]", "[bold]markup[/bold]"),
            ("日本語 émoji 🎉", "日本語 émoji 🎉"),
            ("tag\U000e0041", "tag\\U000e0041"),
        ],
    )
    def test_escapes_only_what_is_unsafe(self, raw: str, shown: str) -> None:
        assert clean(raw) == shown

    def test_multiline_keeps_newlines_only(self) -> None:
        assert clean("a\nb\x1b\r", multiline=True) == "a\nb\\x1b\\r"

    def test_result_is_printable_or_a_space(self) -> None:
        every = "".join(chr(c) for c in [*range(0x3000), *range(0xD800, 0xE100), *range(0xE0000, 0xE0080)])
        assert all(ch.isprintable() or unicodedata.category(ch) == "Zs" for ch in clean(every))
        assert "\n" not in clean(every)
        assert "\n" in clean(every, multiline=True)


class TestPayloads:
    def test_preview_of_text_json_and_binary(self) -> None:
        assert payload_preview(b'{"a": 1}') == '{"a": 1}'
        assert payload_preview(b"") == ""
        assert payload_preview(b"\x1b[2Jx") == "\\x1b[2Jx"
        assert payload_preview(b"\xff\xfe\x00") == "non-printable bytes 0xfffe00"
        assert payload_preview(b"x" * 100, 10) == "xxxxxxxxx…"

    def test_preview_of_a_long_payload_cut_inside_a_character(self) -> None:
        data = "é".encode() * 1000  # 2 bytes each: the 256-byte cut is inside none, but try odd sizes
        assert payload_preview(b"a" + data, 20).startswith("aé")

    def test_detail_pretty_prints_json(self) -> None:
        kind, body = payload_detail(b'{"b":[1,2],"msg":"\\u001b[31m"}')
        assert kind == "JSON, 30 bytes"
        assert body == '{\n  "b": [\n    1,\n    2\n  ],\n  "msg": "\\u001b[31m"\n}'

    def test_detail_of_non_json_is_a_hex_dump(self) -> None:
        kind, body = payload_detail(b"hello \x1b[31m world, this is longer than sixteen")
        assert kind == "binary, 46 bytes"
        first = body.splitlines()[0]
        assert first == "00000000  68 65 6c 6c 6f 20 1b 5b  33 31 6d 20 77 6f 72 6c   |hello .[31m worl|"

    def test_detail_stops_at_the_limit(self) -> None:
        kind, body = payload_detail(b"\x00{}" * 100, limit=32)
        assert kind == "binary, 300 bytes, first 32 shown"
        assert body.endswith("… 268 more bytes not shown")
        assert len(body.splitlines()) == 3

    def test_detail_knows_json_and_text_whatever_their_size(self) -> None:
        big = b'{"rows": [' + b",".join(b'{"n": 1}' for _ in range(10_000)) + b"]}"
        kind, body = payload_detail(big, limit=64)
        assert kind == f"JSON, {len(big):,} bytes, first 64 shown"
        assert body.startswith('{"rows": [{"n": 1}')
        assert body.endswith(f"… {len(big) - 64:,} more bytes not shown")
        kind, body = payload_detail("héllo wörld\n".encode() * 1000, limit=64)
        assert kind == "text, 14,000 bytes, first 64 shown"
        assert body.startswith("héllo wörld\nhéllo")

    def test_empty(self) -> None:
        assert payload_detail(None) == ("empty", "(empty)")
        assert hex_dump(b"") == ""


class TestFormats:
    @pytest.mark.parametrize(
        ("seconds", "text"),
        [
            (0, "0s"),
            (0.4, "0s"),
            (0.6, "1s"),
            (59, "59s"),
            (60, "1m0s"),
            (3723, "1h2m3s"),
            (-5, "-5s"),
            (90000, "25h0m0s"),
        ],
    )
    def test_go_duration(self, seconds: float, text: str) -> None:
        assert go_duration(seconds) == text
        assert go_duration(timedelta(seconds=seconds)) == text

    @pytest.mark.parametrize(
        ("n", "text"),
        [
            (0, "0 B"),
            (999, "999 B"),
            (1000, "1.0 kB"),
            (1500, "1.5 kB"),
            (48_213, "48.2 kB"),
            (2 * 10**9, "2.0 GB"),
        ],
    )
    def test_si_bytes(self, n: int, text: str) -> None:
        assert si_bytes(n) == text

    def test_error_rate(self) -> None:
        assert error_rate(0, 0) == "-"
        assert error_rate(120, 6) == "5.00%"
        assert error_rate(3, 3) == "100.00%"

    def test_times(self) -> None:
        when = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
        now = when.timestamp()
        assert abs_time(when) == "2026-05-01 12:00:00 UTC"
        assert abs_time(None) == "-"
        assert relative_time(None, now) == "-"
        assert relative_time(when, now) == "now"
        assert relative_time(when + timedelta(minutes=5), now) == "in 5m0s"
        assert relative_time(when - timedelta(seconds=42), now) == "42s ago"


class TestActionWords:
    def test_questions_name_what_they_touch(self) -> None:
        one = Action(ActionKind.DELETE, "default", TaskState.ARCHIVED, ("abc",))
        assert confirm_text(one) == 'Delete archived task "abc" in queue "default"?'
        some = Action(ActionKind.ARCHIVE, "q\x1b", TaskState.PENDING, ("a", "b", "c"))
        assert confirm_text(some) == 'Archive 3 selected pending tasks in queue "q\\x1b"?'
        bulk = Action(ActionKind.RUN, "default", TaskState.RETRY, whole_state=True, expected=1234)
        assert confirm_text(bulk) == 'Run all 1,234 retry tasks in queue "default" (move them to pending)?'
        group = Action(
            ActionKind.DELETE, "default", TaskState.AGGREGATING, whole_state=True, group="g", expected=2
        )
        assert confirm_text(group) == 'Delete all 2 aggregating tasks in group "g" of queue "default"?'
        cancel = Action(ActionKind.CANCEL, "default", TaskState.ACTIVE, ("x", "y"))
        assert confirm_text(cancel) == 'Cancel the processing of 2 selected active tasks in queue "default"?'
        assert not Action(ActionKind.PAUSE, "default").confirm

    def test_reports_count_changes_and_failures(self) -> None:
        run = Action(ActionKind.RUN, "default", TaskState.RETRY, ("a",))
        assert result_text(run, 1, ()) == "1 task is now pending"
        delete = Action(ActionKind.DELETE, "default", TaskState.PENDING, ("a", "b", "c", "d", "e"))
        errors = tuple(f"{i}: task is active" for i in "bcde")
        assert result_text(delete, 1, errors) == (
            "1 task deleted; 4 failed: b: task is active; c: task is active; d: task is active (and 1 more)"
        )
        assert result_text(Action(ActionKind.PAUSE, "q"), 1, ()) == 'Successfully paused queue "q"'
        assert result_text(Action(ActionKind.UNPAUSE, "q"), 1, ()) == 'Successfully unpaused queue "q"'

    @pytest.mark.parametrize(
        ("kind", "state", "whole", "allowed"),
        [
            (ActionKind.DELETE, TaskState.ACTIVE, False, False),
            (ActionKind.CANCEL, TaskState.ACTIVE, False, True),
            (ActionKind.CANCEL, TaskState.PENDING, False, False),
            (ActionKind.RUN, TaskState.PENDING, False, False),
            (ActionKind.RUN, TaskState.COMPLETED, False, True),
            (ActionKind.RUN, TaskState.COMPLETED, True, False),
            (ActionKind.ARCHIVE, TaskState.ARCHIVED, True, False),
            (ActionKind.ARCHIVE, TaskState.AGGREGATING, True, True),
            (ActionKind.DELETE, TaskState.COMPLETED, True, True),
        ],
    )
    def test_refusals_follow_the_inspector(self, kind, state, whole, allowed) -> None:
        assert (refusal(kind, state, whole_state=whole) is None) == allowed


def test_far_times_and_error_rates_read_as_in_the_cli() -> None:
    from asynq_py.cli.render import error_rate as cli_error_rate
    from asynq_py.cli.render import relative as cli_relative

    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    for when, text in (
        (now + timedelta(days=1126, hours=7), "in 1126d7h"),
        (now - timedelta(days=2), "2d ago"),
    ):
        assert relative_time(when, now.timestamp()) == cli_relative(when, now) == text
    assert error_rate(8, 1) == f"{cli_error_rate(8, 1):.2%}" == "12.50%"
    assert error_rate(0, 0) == "-"


def test_limits_line_words_every_rate_and_next_start() -> None:
    assert [limits_text(info).markup for info in sample_limits()] == [
        "[bold]Limits [/bold]queue: 1/4 active, rate 100/m burst 3, next start now"
        "   [bold]a[/bold]: rate 5/s burst 5, next start in 1.5s"
        "   [bold]b[/bold]: [bold yellow]2/2 active[/bold yellow], rate 1/m, next start in 60.0s"
        "[yellow], 3 parked[/yellow]"
        "   [bold]c[/bold]: rate 7/2500ms burst 2, next start in 1m"
        "   [bold]d[/bold]: rate 1/h, next start in 59m"
        "   [bold]e[/bold]: 0/1 active[yellow], 2 parked[/yellow]"
        "   [bold]f[/bold]: rate 9/s, next start in 0.0s"
        "   Throttled today 2, total 9",
        "[bold]Limits [/bold]queue: rate 2/s, next start in 0.2s   Throttled today 0, total 0",
    ]
