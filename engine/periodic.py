"""Run a background step on an interval until stopped, logging its failures without dying."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .errors import AsynqError
from .ratelimit import RateLimitedLog

__all__ = ["run_periodically"]


async def run_periodically(
    name: str,
    step: Callable[[], Awaitable[object]],
    interval_s: float,
    stopping: asyncio.Event,
    logger: logging.Logger,
    *,
    first_now: bool = True,
) -> None:
    """Call ``step`` every ``interval_s`` (first at once unless ``first_now`` is False) until ``stopping``."""
    limited = RateLimitedLog(logger)
    if not first_now and await _stopped_within(stopping, interval_s):
        return
    while not stopping.is_set():
        try:
            await step()
        except AsynqError as exc:
            limited.log(logging.ERROR, name, "%s failed: %s", name, exc)
        except Exception:
            logger.exception("%s failed unexpectedly", name)
        if await _stopped_within(stopping, interval_s):
            return


async def _stopped_within(stopping: asyncio.Event, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await stopping.wait()
    except TimeoutError:
        return False
    return True
