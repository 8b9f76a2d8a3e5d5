"""The subscriber: listens for cancellations (``asynq:cancel``) and for asynq-py's wake-ups."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from . import keys
from .broker import AsyncBroker
from .errors import AsynqError
from .ratelimit import RateLimitedLog

__all__ = ["Subscriber"]

RETRY_S = 5.0
"""Seconds between attempts to subscribe again after a failure (Go's)."""


class Subscriber:
    """Subscribes to the cancel channel and the wake channels of the server's queues."""

    def __init__(
        self,
        broker: AsyncBroker,
        queues: list[str],
        on_cancel: Callable[[str], None],
        on_wake: Callable[[], None],
        logger: logging.Logger,
    ) -> None:
        self._broker = broker
        self._channels = [keys.CANCEL_CHANNEL, *(keys.wake_channel(q) for q in queues)]
        self._on_cancel = on_cancel
        self._on_wake = on_wake
        self._limited = RateLimitedLog(logger)
        self.subscribed = asyncio.Event()
        """Set while subscribed (tests wait on it)."""

    def _message(self, channel: str, data: bytes) -> None:
        if channel == keys.CANCEL_CHANNEL:
            self._on_cancel(data.decode(errors="replace"))
        else:
            self._on_wake()

    async def run(self, stopping: asyncio.Event) -> None:
        """Listen until ``stopping`` is set, subscribing again after connection failures."""
        while not stopping.is_set():
            try:
                self._on_wake()  # anything enqueued while we were not listening
                await self._broker.listen(self._channels, self._message, stopping, self.subscribed)
            except AsynqError as exc:
                self._limited.log(
                    logging.ERROR, "subscribe", "pub/sub failed, retrying in %gs: %s", RETRY_S, exc
                )
                try:
                    async with asyncio.timeout(RETRY_S):
                        await stopping.wait()
                except TimeoutError:
                    pass
