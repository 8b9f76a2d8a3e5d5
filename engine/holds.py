"""Which queues the fetch loop leaves alone for a while because a flow-control limit holds them.

The dequeue script says when a queue's limit held tasks back and how long until it is worth asking
again (docs/wire.md §2.3); the processor skips that queue until then, serving its other queues
meanwhile, and asks again at least every ``MAX_HOLD_S`` so a changed limit takes effect within it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["MAX_HOLD_S", "Hold", "HoldReason", "QueueHolds"]

MAX_HOLD_S = 1.0
"""Longest a queue is skipped: limits live in Redis and may change at any time."""


class HoldReason(IntEnum):
    """Why the dequeue script held a queue's tasks back (the reason code of its reply)."""

    RATE = 1
    """The queue's rate limit: the hold ends at its next slot."""
    CONCURRENCY = 2
    """The queue's concurrency limit is full: a task of the queue finishing ends the hold."""
    TYPES = 3
    """Only tasks of types at their limits are left: a finished task or a new one ends the hold."""
    PARKED = 4
    """The call parked as many tasks as it may: ask again at once."""


@dataclass(frozen=True, slots=True)
class Hold:
    """One queue held back by the dequeue script."""

    wait_s: float
    """Seconds until asking again is worthwhile."""
    reason: HoldReason
    """Why."""


class QueueHolds:
    """The queues held back now, each until a monotonic time."""

    def __init__(self) -> None:
        self._until: dict[str, tuple[float, HoldReason]] = {}

    def note(self, holds: Mapping[str, Hold], now: float) -> None:
        """Hold each queue of ``holds`` for its wait (at most ``MAX_HOLD_S``) from ``now``."""
        for queue, hold in holds.items():
            self._until[queue] = (now + min(hold.wait_s, MAX_HOLD_S), hold.reason)

    def open(self, order: Iterable[str], now: float) -> list[str]:
        """Return the queues of ``order`` that are not held at ``now``, in that order."""
        if not self._until:
            return list(order)
        for queue in [q for q, (until, _) in self._until.items() if until <= now]:
            del self._until[queue]
        return [q for q in order if q not in self._until]

    def wait_s(self, now: float) -> float | None:
        """Seconds from ``now`` until the first hold ends; None if no queue is held."""
        if not self._until:
            return None
        return max(0.0, min(until for until, _ in self._until.values()) - now)

    def task_finished(self, queue: str) -> bool:
        """End a hold a finished task of ``queue`` may have lifted; True if one ended."""
        held = self._until.get(queue)
        if held is None or held[1] == HoldReason.RATE:
            return False
        del self._until[queue]
        return True

    def work_arrived(self) -> None:
        """End the holds a newly pending task may have lifted (those on task types only)."""
        for queue in [q for q, (_, reason) in self._until.items() if reason == HoldReason.TYPES]:
            del self._until[queue]
