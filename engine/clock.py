"""Time, injected: every time-dependent decision in the engine asks a ``Clock``."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "RealClock", "SimulatedClock"]


class Clock(Protocol):
    """Something that tells the current Unix time in seconds."""

    def now(self) -> float:
        """Return the current Unix time in (fractional) seconds."""
        ...


class RealClock:
    """The system clock."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()


class SimulatedClock:
    """A clock that moves only when told to, for tests."""

    def __init__(self, start: float) -> None:
        self._now = start

    def now(self) -> float:
        """Return the simulated time."""
        return self._now

    def set(self, when: float) -> None:
        """Jump to ``when``."""
        self._now = when

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self._now += seconds
