"""``Coalescer``: the items concurrent callers hand in during one event-loop step, stored in batches.

``AsyncClient.enqueue`` uses it. A caller with nothing of the client's in flight, or the first in a
loop step, runs its own plan at once (a lone caller pays no extra loop step). While a call is in
flight, the tasks that the other callers of the step hand in gather in batches of up to ``BATCH``;
a task per batch runs one plan for it (for enqueues, one ``enqueue_many`` script call per queue,
docs/wire.md §4.1.23), and each caller awaits its own result or error. A full batch is written as
soon as it is built, so Redis stores it while the client builds the next."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Generic, TypeVar

from .errors import AsynqError

if TYPE_CHECKING:
    from collections.abc import Callable

    from .broker import AsyncBroker
    from .calls import Plan

__all__ = ["Coalescer"]

I = TypeVar("I")  # noqa: E741 (the item a caller hands in)
R = TypeVar("R")


BATCH = 64
"""Most items one plan stores: a batch that is full goes to Redis while the loop step goes on,
so that Redis stores it while the client builds the next one, rather than the two taking turns."""


class _Batch(Generic[I, R]):
    """Items handed in, and their callers' futures, in the order they came."""

    __slots__ = ("futures", "items")

    def __init__(self) -> None:
        self.items: list[I] = []
        self.futures: list[asyncio.Future[R]] = []


class Coalescer(Generic[I, R]):
    """Gathers items handed in while the broker is busy and runs ``plan`` for up to ``BATCH`` of
    them at a time.

    Args:
        broker: Runs the plans.
        plan: Takes the gathered items, in the order they came, and returns one result or
            ``AsynqError`` per item.
    """

    def __init__(self, broker: AsyncBroker, plan: Callable[[list[I]], Plan[list[R | AsynqError]]]) -> None:
        self._broker = broker
        self._plan = plan
        self._open: _Batch[I, R] | None = None
        """The batch that takes the items handed in now."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._alone_this_step = False
        self.busy = 0
        """Plans in flight: the coalescer's own, and those of the callers that went alone (each
        counts its own while it runs)."""

    def goes_alone(self) -> bool:
        """Whether the caller at hand should run its own plan rather than hand its item in.

        A caller goes alone when nothing is in flight, or when it is the first to come in this
        loop step: a lone plan is written at once, so Redis starts on it while the callers after it
        in the step gather theirs (gathering every caller would leave Redis idle meanwhile).
        """
        if not self.busy:
            return True
        if self._open is not None or self._alone_this_step:
            return False
        self._alone_this_step = True
        asyncio.get_running_loop().call_soon(self._next_step)
        return True

    def _next_step(self) -> None:
        self._alone_this_step = False

    def submit(self, item: I) -> asyncio.Future[R]:
        """Hand in ``item``; the future gets its result, or its error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        batch = self._open
        if batch is None:
            # Its first step runs after the callers already woken in this step: they gather too.
            batch = self._open = _Batch()
            task = loop.create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        batch.items.append(item)
        batch.futures.append(future)
        if len(batch.items) >= BATCH:
            self._open = None
        return future

    async def _run(self, batch: _Batch[I, R]) -> None:
        if self._open is batch:
            self._open = None
        # A caller cancelled before the round trip began has nothing stored.
        sent = [
            (item, future)
            for item, future in zip(batch.items, batch.futures, strict=True)
            if not future.done()
        ]
        if not sent:
            return
        items = [item for item, _ in sent]
        futures = [future for _, future in sent]
        self.busy += 1
        try:
            results = await self._broker.run(self._plan(items))
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        except Exception as exc:  # the round trip failed as a whole: every caller gets its error
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            self.busy -= 1
        for future, result in zip(futures, results, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(result, AsynqError):
                future.set_exception(result)
            else:
                future.set_result(result)
