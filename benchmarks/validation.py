"""What a typed task costs per task: checking and encoding at enqueue, decoding and checking in the worker.

    .venv/bin/python benchmarks/validation.py [--n N] [--rounds R] [--smoke]

No Redis: only the work a typed task adds to an enqueue and to a run, for a small task (an int and
a str) and a rich one (a nested dataclass, a datetime, an enum, a list and a dict). Measured side by
side, in R interleaved rounds of N calls each (median per call over the rounds):

* ``Task(type, dict)``: the untyped way, a dict encoded as Go JSON (the baseline);
* ``TaskDef.task(...)``: bind the arguments, check them with msgspec, encode them as Go JSON;
* ``TaskDef.decode(payload)``: what the worker does before it calls the function;
* the check alone (Python values in, JSON-able values out) and the decode alone, with msgspec as
  ``TaskDef`` uses it and with pydantic v2 (a model made with ``create_model``) when pydantic is
  installed: the alternative that docs/decisions.md weighs.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asynq_py.engine import ServeMux, Task, TaskContext

# The argument types are the typed-task tests' own (tests/typed_args.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from typed_args import Address, Color, Order

mux = ServeMux()


@mux.task("email:deliver")
def deliver(ctx: TaskContext, user_id: int, subject: str = "") -> None:
    """A small task."""


@mux.task("order:ship")
def ship(
    ctx: TaskContext,
    order: Order,
    when: datetime,
    color: Color = Color.RED,
    weights: dict[str, float] | None = None,
) -> None:
    """A rich task."""


WHEN = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)
ORDER = Order("sku-1", Address("Paris", 75001), ["fragile", "gift"])
SMALL_DICT = {"user_id": 42, "subject": "hello"}
RICH_DICT = {
    "order": dataclasses.asdict(ORDER),
    "when": WHEN.isoformat(),
    "color": "blue",
    "weights": {"a": 1.5, "b": 2.0},
}


SMALL_KW: dict[str, Any] = {"user_id": 42, "subject": "hello"}
RICH_KW: dict[str, Any] = {"order": ORDER, "when": WHEN, "color": Color.BLUE, "weights": {"a": 1.5, "b": 2.0}}
SMALL_JSON = deliver.task(**SMALL_KW).raw_payload or b""
RICH_JSON = ship.task(**RICH_KW).raw_payload or b""


def _msgspec_cases() -> dict[str, Callable[[], Any]]:
    """The check alone, as TaskDef does it: to JSON-able values, then convert into the arguments' Struct."""
    import msgspec

    small = msgspec.defstruct("SmallArgs", [("user_id", int), ("subject", str, "")], kw_only=True)
    rich = msgspec.defstruct(
        "RichArgs",
        [
            ("order", Order),
            ("when", datetime),
            ("color", Color, Color.RED),
            ("weights", dict[str, float] | None, None),
        ],
        kw_only=True,
    )
    small_dec, rich_dec = msgspec.json.Decoder(small), msgspec.json.Decoder(rich)
    return {
        "msgspec check, small": lambda: msgspec.convert(msgspec.to_builtins(SMALL_KW), small),
        "msgspec check, rich": lambda: msgspec.convert(msgspec.to_builtins(RICH_KW), rich),
        "msgspec decode, small": lambda: small_dec.decode(SMALL_JSON),
        "msgspec decode, rich": lambda: rich_dec.decode(RICH_JSON),
    }


def _pydantic_cases() -> dict[str, Callable[[], Any]]:
    """The same check with pydantic v2: validate the Python values, dump them as JSON-able values."""
    try:
        import pydantic
    except ImportError:
        return {}
    small = pydantic.create_model("SmallArgs", user_id=(int, ...), subject=(str, ""))
    rich = pydantic.create_model(
        "RichArgs",
        order=(Order, ...),
        when=(datetime, ...),
        color=(Color, Color.RED),
        weights=(dict[str, float] | None, None),
    )
    return {
        "pydantic check, small": lambda: small(**SMALL_KW).model_dump(mode="json"),
        "pydantic check, rich": lambda: rich(**RICH_KW).model_dump(mode="json"),
        "pydantic decode, small": lambda: small.model_validate_json(SMALL_JSON),
        "pydantic decode, rich": lambda: rich.model_validate_json(RICH_JSON),
    }


def cases() -> dict[str, Callable[[], Any]]:
    """Every measured call, by name."""
    return {
        "Task(type, dict), small": lambda: Task("email:deliver", SMALL_DICT),
        "Task(type, dict), rich": lambda: Task("order:ship", RICH_DICT),
        "TaskDef.task, small": lambda: deliver.task(**SMALL_KW),
        "TaskDef.task, rich": lambda: ship.task(**RICH_KW),
        "TaskDef.decode, small": lambda: deliver.decode(SMALL_JSON),
        "TaskDef.decode, rich": lambda: ship.decode(RICH_JSON),
        **_msgspec_cases(),
        **_pydantic_cases(),
    }


def measure(fn: Callable[[], Any], n: int) -> float:
    """Return microseconds per call of ``fn`` over ``n`` calls."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20_000, help="calls per round and case (default 20,000)")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, to check that the script runs")
    args = p.parse_args()
    n, rounds = (200, 1) if args.smoke else (args.n, args.rounds)
    named = cases()
    samples: dict[str, list[float]] = {name: [] for name in named}
    for _ in range(rounds):
        for name, fn in named.items():
            samples[name].append(measure(fn, n))
    us = {name: statistics.median(values) for name, values in samples.items()}
    print(f"per call, median of {rounds} rounds of {n:,} calls")
    for name, value in us.items():
        print(f"  {name:32} {value:8.2f} us")
    print("ratios")
    for size in ("small", "rich"):
        base = us[f"Task(type, dict), {size}"]
        print(
            f"  {size}: TaskDef.task / Task(type, dict)".ljust(44)
            + f"{us[f'TaskDef.task, {size}'] / base:6.2f}x"
        )
        if f"pydantic check, {size}" in us:
            for step in ("check", "decode"):
                ratio = us[f"pydantic {step}, {size}"] / us[f"msgspec {step}, {size}"]
                print(f"  {size}: pydantic {step} / msgspec {step}".ljust(44) + f"{ratio:6.2f}x")
    if "pydantic check, small" not in us:
        print("  (pydantic is not installed: no comparison)")


if __name__ == "__main__":
    main()
