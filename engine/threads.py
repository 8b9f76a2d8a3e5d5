"""A fixed set of threads for ``def`` handlers that report results to the event loop in batches.

``loop.run_in_executor`` wakes the loop once per finished call; under load that wake-up (a write
to the loop's self-pipe and a GIL hand-off each) costs more than a no-op handler. Here a finished
call is queued, and the loop is woken only if no wake-up is already pending.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["HandlerThreads"]

_Job = tuple[asyncio.Future[Any], Callable[..., Any], tuple[Any, ...]]


class HandlerThreads:
    """``size`` daemon threads running submitted calls; results arrive as loop futures."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self._loop = loop
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._finished: deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = deque()
        self._lock = threading.Lock()
        self._wake_pending = False
        self._threads = [
            threading.Thread(target=self._work, name=f"asynq-handler-{i}", daemon=True) for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run ``fn(*args)`` on a thread; return a future of its result (call from the loop)."""
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._jobs.put((fut, fn, args))
        return fut

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fut, fn, args = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn(*args)
            except Exception as exc:
                error = exc
            except BaseException as exc:  # SystemExit and friends must not kill the worker thread
                error = Exception(f"handler raised {type(exc).__name__}: {exc}")
            with self._lock:
                self._finished.append((fut, result, error))
                if self._wake_pending:
                    continue
                self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._deliver)
            except RuntimeError:  # the loop is closed: the server is gone
                return

    def _deliver(self) -> None:
        with self._lock:
            finished = list(self._finished)
            self._finished.clear()
            self._wake_pending = False
        for fut, result, error in finished:
            if fut.done():
                continue
            if error is None:
                fut.set_result(result)
            else:
                fut.set_exception(error)

    def shutdown(self) -> None:
        """Let the threads end once they are idle (a handler still running keeps its thread)."""
        for _ in self._threads:
            self._jobs.put(None)
