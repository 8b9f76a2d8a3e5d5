"""A logger wrapper that says the same kind of thing at most once per interval."""

from __future__ import annotations

import logging
import time

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """Logs at most one message per ``key`` every ``interval_s`` seconds, counting the ones dropped."""

    def __init__(self, logger: logging.Logger, interval_s: float = 3.0) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._last: dict[str, float] = {}
        self._dropped: dict[str, int] = {}

    def log(self, level: int, key: str, message: str, *args: object) -> None:
        """Log ``message`` unless ``key`` was logged less than the interval ago."""
        now = time.monotonic()
        if now - self._last.get(key, float("-inf")) < self._interval_s:
            self._dropped[key] = self._dropped.get(key, 0) + 1
            return
        dropped = self._dropped.pop(key, 0)
        suffix = f" ({dropped} similar messages suppressed)" if dropped else ""
        self._last[key] = now
        self._logger.log(level, message + suffix, *args)
