"""The Lua scripts behind every multi-key write, one ``.lua`` file each, each read once.

Each file opens with a ``KEYS``/``ARGV``/``Returns`` header in the shape of Go asynq's, so the two
can be compared side by side. They are read from this package's folder (the wheel installs them
there, as ``package-data``): ``importlib.resources`` would find the same files, but importing it
(with ``tempfile`` and ``zipfile``) costs every command line run about 10 ms.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["LuaScript", "all_scripts", "script"]


@dataclass(frozen=True, slots=True)
class LuaScript:
    """A Lua script's source and its SHA1, the name EVALSHA knows it by."""

    name: str
    """The file name without ``.lua``."""
    source: str
    """The Lua source."""
    sha: str
    """Hex SHA1 of the source."""


_FOLDER = Path(__file__).parent


@cache
def script(name: str) -> LuaScript:
    """Return the packaged script ``name``, read on first use (a ``KeyError`` means a typo in the engine).

    A command line that runs one script reads one file, not all of them.
    """
    try:
        source = (_FOLDER / f"{name}.lua").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise KeyError(name) from exc
    return LuaScript(name, source, hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest())


@cache
def all_scripts() -> dict[str, LuaScript]:
    """Return every packaged script by name (to load them all after a ``NOSCRIPT``)."""
    return {path.stem: script(path.stem) for path in sorted(_FOLDER.glob("*.lua"))}
