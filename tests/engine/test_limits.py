"""The limits model: rates, validation, partial updates, and the ``limits`` hash's fields."""

from __future__ import annotations

import pytest

from asynq_py.engine import DecodeError, Limit, QueueLimits, Rate, ValidationError, next_start_text
from asynq_py.engine.limits import MAX_LIMIT, field_names


@pytest.mark.parametrize(
    ("text", "count", "period_ms"),
    [("100/m", 100, 60_000), ("50/s", 50, 1_000), ("3/h", 3, 3_600_000), (" 7 / s ", 7, 1_000)],
)
def test_rate_parses_the_three_units(text: str, count: int, period_ms: int) -> None:
    rate = Rate.parse(text)
    assert (rate.count, rate.period_ms, rate.burst) == (count, period_ms, 1)
    assert str(rate) == text.replace(" ", "")


def test_rate_formats_an_odd_period_in_ms() -> None:
    assert str(Rate(5, 2_500)) == "5/2500ms"


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (Rate(100, 60_000), "100/m"),
        (Rate(100, 60_000, 5), "100/m burst 5"),
        (Rate(5, 2_500, 2), "5/2500ms burst 2"),
    ],
)
def test_rate_text_names_a_burst_only_above_one(rate: Rate, text: str) -> None:
    assert rate.text_with_burst() == text


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (-5, "now"),
        (0, "now"),
        (1, "in 0.0s"),
        (250, "in 0.2s"),
        (1_500, "in 1.5s"),
        (59_999, "in 60.0s"),  # one decimal, rounded, as `limit ls` always showed it
        (60_000, "in 1m"),
        (119_999, "in 1m"),
        (3_600_000, "in 60m"),
    ],
)
def test_next_start_text_in_seconds_below_a_minute_then_whole_minutes(ms: int, text: str) -> None:
    assert next_start_text(ms) == text


@pytest.mark.parametrize("text", ["", "100", "100/d", "-1/s", "1.5/s", "a/s", "100/ms", "0/s", "/s"])
def test_rate_rejects_bad_text_with_one_clear_line(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        Rate.parse(text)
    message = str(info.value)
    assert "\n" not in message
    assert "rate" in message


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"count": 0, "period_ms": 1000}, "rate must be from 1"),
        ({"count": 1, "period_ms": 0}, "period"),
        ({"count": 1, "period_ms": 1000, "burst": 0}, "burst must be from 1"),
        ({"count": MAX_LIMIT + 1, "period_ms": 1000}, "rate must be from 1"),
        ({"count": True, "period_ms": 1000}, "whole number"),
    ],
)
def test_rate_validates_its_figures(kwargs: dict[str, int], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        Rate(**kwargs)


@pytest.mark.parametrize("concurrency", [0, -3, MAX_LIMIT + 1])
def test_limit_rejects_a_concurrency_out_of_range(concurrency: int) -> None:
    with pytest.raises(ValidationError, match="concurrency must be from 1"):
        Limit(concurrency=concurrency)


def test_rate_next_slot_follows_gcra() -> None:
    rate = Rate(10, 1_000, burst=3)  # one start every 100 ms, up to 3 back to back
    assert rate.interval_ms == 100
    assert rate.next_slot_in_ms(None, 5_000) == 0
    assert rate.next_slot_in_ms(5_150, 5_000) == 0  # 150 ms of debt is within the 200 ms tolerance
    assert rate.next_slot_in_ms(5_300, 5_000) == 100
    assert Rate(1, 1_000).next_slot_in_ms(5_000.5, 5_000) == 1
    # a state left far ahead by a slower rate counts as the dequeue script's horizon: one interval
    assert Rate(10, 1_000).next_slot_in_ms(3_600_000, 5_000) == 100
    assert Rate(10, 1_000, burst=3).next_slot_in_ms(3_600_000, 5_000) == 100


def test_fields_round_trip_with_types_that_contain_colons() -> None:
    limits = QueueLimits(
        concurrency=5,
        rate=Rate(100, 60_000, burst=10),
        types={"report:pdf": Limit(concurrency=2), "email:send": Limit(rate=Rate(3, 1_000))},
    )
    fields = limits.to_fields()
    assert fields == {
        "concurrency": "5",
        "rate": "100",
        "period_ms": "60000",
        "burst": "10",
        "type:email:send:rate": "3",
        "type:email:send:period_ms": "1000",
        "type:email:send:burst": "1",
        "type:report:pdf:concurrency": "2",
    }
    as_bytes = {k.encode(): v.encode() for k, v in fields.items()}
    assert QueueLimits.from_fields(as_bytes) == limits
    assert QueueLimits.from_fields(fields) == limits


def test_from_fields_defaults_burst_and_ignores_unknown_fields() -> None:
    limits = QueueLimits.from_fields({"rate": "4", "period_ms": "1000", "colour": "red", "type:x:size": "1"})
    assert limits == QueueLimits(rate=Rate(4, 1_000, burst=1))
    assert QueueLimits.from_fields({}).is_empty


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"concurrency": "two"}, "field 'concurrency' is 'two'"),
        ({"concurrency": "0"}, "field 'concurrency' is '0'"),
        ({"rate": "5"}, "'rate' has no 'period_ms'"),
        ({"type:pdf:burst": "x"}, "type 'pdf': field 'burst'"),
    ],
)
def test_from_fields_names_the_queue_and_field_of_a_bad_value(fields: dict[str, str], needle: str) -> None:
    with pytest.raises(DecodeError, match=needle) as info:
        QueueLimits.from_fields(fields, queue="reports")
    assert "queue 'reports'" in str(info.value)


def test_partial_updates_keep_what_is_not_given() -> None:
    limits = QueueLimits().updated(concurrency=4)
    limits = limits.updated(rate=Rate.parse("10/s"), burst=5)
    assert limits == QueueLimits(concurrency=4, rate=Rate(10, 1_000, 5))
    # a new rate keeps the burst; a burst alone changes only the burst
    limits = limits.updated(rate=Rate.parse("20/m"))
    assert limits.rate == Rate(20, 60_000, 5)
    limits = limits.updated(burst=2)
    assert limits == QueueLimits(concurrency=4, rate=Rate(20, 60_000, 2))
    # a type's limit is separate from the queue's
    limits = limits.updated(task_type="report:pdf", concurrency=2)
    limits = limits.updated(task_type="report:pdf", rate=Rate.parse("1/s"))
    assert limits.for_type("report:pdf") == Limit(2, Rate(1, 1_000))
    assert limits.queue_limit == Limit(4, Rate(20, 60_000, 2))
    assert limits.for_type("other").is_empty


def test_updates_reject_nothing_a_lone_burst_and_an_empty_type() -> None:
    with pytest.raises(ValidationError, match="give a concurrency, a rate or a burst"):
        QueueLimits().updated()
    with pytest.raises(ValidationError, match="a burst needs a rate"):
        QueueLimits(concurrency=1).updated(burst=3)
    with pytest.raises(ValidationError, match="must not be blank"):
        QueueLimits().updated(task_type="", concurrency=1)
    with pytest.raises(ValidationError, match="must not be blank"):
        QueueLimits(types={"": Limit(concurrency=1)})


def test_field_names_cover_every_part() -> None:
    assert field_names() == ["concurrency", "rate", "period_ms", "burst"]
    assert field_names("a:b") == [
        "type:a:b:concurrency",
        "type:a:b:rate",
        "type:a:b:period_ms",
        "type:a:b:burst",
    ]
