"""Every socket a test opens is closed by the end of its teardown (``tests/conftest.py`` installs this).

A socket left open is closed by the garbage collector whenever it next runs, and the
``ResourceWarning`` it raises then is blamed by pytest on whichever test happens to be running: a
random, intermittent failure far from its cause. ``SocketGuard`` records which test (or which
fixture of a broader scope) each socket was made for, and where; a test whose sockets are still open
after its teardown fails there, naming them. The cost is one dictionary entry and a short walk of
the stack per socket made.
"""

from __future__ import annotations

import socket
import sys
import weakref
from pathlib import Path
from typing import Any

__all__ = ["SocketGuard"]

REPO = str(Path(__file__).resolve().parent.parent)
"""Frames under this directory (the engine, the tests) say where a socket was made."""
_FRAMES = 6


def _made_at() -> tuple[str, ...]:
    """The innermost frames of this repository on the caller's stack, as ``file:line in function``."""
    lines: list[str] = []
    frame = sys._getframe(2)
    while frame is not None and len(lines) < _FRAMES:
        code = frame.f_code
        name = code.co_filename
        if name.startswith(REPO) and "/.venv" not in name and name != __file__:
            lines.append(f"{name.removeprefix(REPO + '/')}:{frame.f_lineno} in {code.co_name}")
        frame = frame.f_back  # type: ignore[assignment]
    return tuple(lines)


class SocketGuard:
    """Records the sockets made while ``owner`` is set, and finds those of an owner still open."""

    def __init__(self) -> None:
        self.owner: str | None = None
        """Who the sockets made now belong to: a test's node id, a broader fixture, or None (untracked)."""
        self._made: weakref.WeakKeyDictionary[socket.socket, tuple[str, tuple[str, ...]]] = (
            weakref.WeakKeyDictionary()
        )

    def install(self) -> None:
        """Make every ``socket.socket`` (and ``ssl.SSLSocket``) report to this guard as it is made."""
        made = self._made
        init = socket.socket.__init__

        def tracked_init(sock: socket.socket, *args: Any, **kwargs: Any) -> None:
            init(sock, *args, **kwargs)
            if self.owner is not None:
                made[sock] = (self.owner, _made_at())

        socket.socket.__init__ = tracked_init  # type: ignore[method-assign,assignment]

    def left_open(self, owner: str) -> list[str]:
        """The sockets made for ``owner`` that are still open, each with where it was made."""
        found = []
        for sock, (who, where) in list(self._made.items()):
            if who == owner and sock.fileno() != -1:
                found.append(
                    f"{sock!r}, made at\n    " + "\n    ".join(where or ("(outside the repository)",))
                )
        return found
