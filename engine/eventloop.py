"""Which event loop a ``Server`` or ``Scheduler`` creates for itself (``run``, ``start``).

``asyncio`` (the default) and ``uvloop`` force one; ``auto`` is uvloop where it can be imported and
asyncio's own loop elsewhere, as uvicorn's ``--loop auto`` (docs/decisions.md says why asyncio is
the default). ``run_async`` and ``start_async`` run on whatever loop the application runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ValidationError

if TYPE_CHECKING:
    import asyncio

__all__ = ["DEFAULT_EVENT_LOOP", "EVENT_LOOPS", "check_event_loop", "loop_factory", "loop_name", "run"]

EVENT_LOOPS = ("auto", "asyncio", "uvloop")
"""The values of ``ServerConfig.event_loop`` and ``--loop``."""
DEFAULT_EVENT_LOOP = "asyncio"
"""The loop a server, a scheduler and the command line use unless told otherwise (docs/decisions.md)."""

T = TypeVar("T")


def check_event_loop(name: str) -> None:
    """Raise ``ValidationError`` unless ``name`` is one of ``EVENT_LOOPS``."""
    if name not in EVENT_LOOPS:
        raise ValidationError(f"event_loop must be auto, asyncio or uvloop, not {name!r}")


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """Return what creates the loop ``name`` stands for here; None for asyncio's own loop.

    Raises:
        ValidationError: ``name`` is not one of ``EVENT_LOOPS``, or is ``uvloop`` and uvloop cannot
            be imported.
    """
    check_event_loop(name)
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError as exc:
        if name == "auto":
            return None
        raise ValidationError(
            f"event loop uvloop is not available here ({exc}): install uvloop, or use auto or asyncio"
        ) from exc
    return uvloop.new_event_loop


def loop_name(name: str) -> str:
    """Return ``asyncio`` or ``uvloop``: the loop that ``name`` resolves to here."""
    return "asyncio" if loop_factory(name) is None else "uvloop"


def run(main: Coroutine[Any, Any, T], factory: Callable[[], asyncio.AbstractEventLoop] | None) -> T:
    """Run ``main`` to completion on a new loop from ``factory`` (None: asyncio's), as ``asyncio.run``.

    A loop that cannot close once ``main`` is done (uvloop raises ``OSError`` EBUSY when a
    connection some library left open is still closing) is logged, not raised: the work is over, and
    a worker that shut down gracefully should not exit with a traceback.
    """
    import asyncio  # (not loaded by the command line until a server or scheduler runs)

    runner = asyncio.Runner(loop_factory=factory)
    try:
        return runner.run(main)
    finally:
        try:
            runner.close()
        except OSError as exc:
            logging.getLogger("asynq_py").warning(
                "the event loop did not close cleanly (%s): a connection was still open", exc
            )
