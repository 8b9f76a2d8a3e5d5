"""Redis calls as data, and plans: generators that yield calls and receive their replies.

A plan holds an operation's logic (argument building, key choice, reply parsing, error mapping)
without doing I/O, so ``Broker`` and ``AsyncBroker`` run the same plan, one blocking and one
awaiting. A failed call is thrown into the plan as an ``AsynqError``.

Calls are plain slotted dataclasses, not frozen ones, which take three times as long to build:
every enqueue makes one. Nothing changes a call once made.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Arg", "Batch", "Call", "Command", "EachPrimary", "Plan", "Script", "T", "raise_failed"]

Arg = bytes | str | int | float
"""What a Redis argument may be (never bool, never a float TTL)."""

T = TypeVar("T")


@dataclass(slots=True)
class Command:
    """One plain Redis command."""

    args: tuple[Arg, ...]
    """Command name and arguments."""
    route_key: str | None = None
    """For a command without keys: a key whose cluster node must run it (``WAIT`` after a write
    goes to the node that took the write)."""


@dataclass(slots=True)
class Script:
    """One run of a packaged Lua script (see ``engine/scripts``)."""

    name: str
    """The script's file name without ``.lua``."""
    keys: tuple[str, ...]
    """KEYS."""
    args: tuple[Arg, ...]
    """ARGV."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Calls sent in one pipelined round trip (not a transaction).

    The reply is a list with one entry per call: its reply, or the ``AsynqError`` it failed with.
    """

    calls: tuple[Command | Script, ...]
    """The calls, in order."""


@dataclass(frozen=True, slots=True)
class EachPrimary:
    """One command run on every primary of a cluster, and once on any other Redis.

    The reply maps each primary's "host:port" to its reply ("" names the one server outside a
    cluster); a node that failed maps to the ``AsynqError`` it failed with.
    """

    command: Command
    """The command (keyless, such as ``INFO``)."""


Call = Command | Script | Batch | EachPrimary
"""Anything a plan may yield."""

Plan = Generator[Call, Any, T]
"""A generator that yields calls, receives their replies, and returns a result."""


def raise_failed(replies: Sequence[Any]) -> None:
    """Raise the first error among a ``Batch``'s replies, if any."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
