"""The subscriber: listens for cancellations (``asynq:cancel``) and, where needed, asynq-py's wake-ups.

A server that blocks on its queues' wake lists (docs/wire.md §2.4) is woken by the tokens there and
does not subscribe to the wake channels: a message it does not need would be read and parsed at
the very moment its wake-up arrives. Servers that cannot block (Cluster, Sentinel, a Redis that
refuses the wait) subscribe to them. On those channels they also hear ``slot`` when a task of a queue
with limits ends, so a server that waits on a full limit asks again at once.
"""

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
SLOT_FREED = b"slot"
"""The wake channel's message for "a task of the queue ended" (docs/wire.md §2.4), sent by the
scripts that take a task out of active (lib/slot_freed.lua)."""


class Subscriber:
    """Subscribes to the cancel channel, and to the wake channels of the server's queues if ``wakes``.

    A wake channel's ``slot`` message calls ``on_slot`` with its queue; any other calls ``on_wake``.
    """

    def __init__(
        self,
        broker: AsyncBroker,
        queues: list[str],
        on_cancel: Callable[[str], None],
        on_wake: Callable[[], None],
        on_slot: Callable[[str], None],
        logger: logging.Logger,
        *,
        wakes: bool = True,
    ) -> None:
        self._broker = broker
        self._wake_channels = {keys.wake_channel(q): q for q in queues}
        self._wakes = wakes
        self._on_cancel = on_cancel
        self._on_wake = on_wake
        self._on_slot = on_slot
        self._limited = RateLimitedLog(logger)
        self._resubscribe = asyncio.Event()
        self.subscribed = asyncio.Event()
        """Set while subscribed (tests wait on it)."""

    @property
    def channels(self) -> list[str]:
        """The channels subscribed to (from the next subscription on, after a change)."""
        return [keys.CANCEL_CHANNEL, *(self._wake_channels if self._wakes else ())]

    def listen_for_wakes(self) -> None:
        """Subscribe to the wake channels too (the server stopped blocking on the wake lists)."""
        if not self._wakes:
            self._wakes = True
            self._resubscribe.set()

    def _message(self, channel: str, data: bytes) -> None:
        if channel == keys.CANCEL_CHANNEL:
            self._on_cancel(data.decode(errors="replace"))
        elif data == SLOT_FREED:
            self._on_slot(self._wake_channels[channel])
        else:
            self._on_wake()

    async def run(self, stopping: asyncio.Event) -> None:
        """Listen until ``stopping`` is set, subscribing again after connection failures."""
        while not stopping.is_set():
            self._resubscribe.clear()
            try:
                if self._wakes:
                    self._on_wake()  # anything enqueued while we were not listening
                await self._listen_once(stopping)
            except AsynqError as exc:
                self._limited.log(
                    logging.ERROR, "subscribe", "pub/sub failed, retrying in %gs: %s", RETRY_S, exc
                )
                try:
                    async with asyncio.timeout(RETRY_S):
                        await stopping.wait()
                except TimeoutError:
                    pass

    async def _listen_once(self, stopping: asyncio.Event) -> None:
        """One subscription, until ``stopping`` or until the channels change."""
        ended = asyncio.Event()
        loop = asyncio.get_running_loop()
        watchers = [loop.create_task(_set_after(event, ended)) for event in (stopping, self._resubscribe)]
        try:
            await self._broker.listen(self.channels, self._message, ended, self.subscribed)
        finally:
            for watcher in watchers:
                watcher.cancel()


async def _set_after(event: asyncio.Event, then: asyncio.Event) -> None:
    await event.wait()
    then.set()
