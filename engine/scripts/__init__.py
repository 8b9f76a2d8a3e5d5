"""The Lua scripts behind every multi-key write, one ``.lua`` file each, loaded once.

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


@cache
def all_scripts() -> dict[str, LuaScript]:
    """Return every packaged script by name."""
    found: dict[str, LuaScript] = {}
    for entry in sorted(Path(__file__).parent.glob("*.lua")):
        source = entry.read_text(encoding="utf-8")
        name = entry.stem
        sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        found[name] = LuaScript(name, source, sha)
    return found


def script(name: str) -> LuaScript:
    """Return the packaged script ``name`` (a ``KeyError`` means a typo in the engine)."""
    return all_scripts()[name]
