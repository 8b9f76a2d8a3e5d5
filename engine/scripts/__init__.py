"""The Lua scripts behind every multi-key write, one ``.lua`` file each, each read once.

Each file opens with a ``KEYS``/``ARGV``/``Returns`` header in the shape of Go asynq's, so the two
can be compared side by side. They are read from this package's folder (the wheel installs them
there, as ``package-data``): ``importlib.resources`` would find the same files, but importing it
(with ``tempfile`` and ``zipfile``) costs every command line run about 10 ms.

Redis scripts cannot import one another, so code that several scripts share lives in ``lib/``, and
a script that needs it says so in its header: ``-- Uses lib/take_out.lua``. Loading the script
prepends each file it names; that whole text is what Redis runs and what the SHA1 is taken of.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["LuaScript", "all_scripts", "script"]

_USES = "-- Uses "


@dataclass(frozen=True, slots=True)
class LuaScript:
    """A Lua script's source and its SHA1, the name EVALSHA knows it by."""

    name: str
    """The file name without ``.lua``."""
    source: str
    """The Lua text sent to Redis: the ``lib/`` files its header uses, then the script's file."""
    sha: str
    """Hex SHA1 of the source."""


_FOLDER = Path(__file__).parent


def _uses(source: str) -> list[str]:
    """Return the ``lib/`` files that the header (the leading comment lines) names in ``Uses`` lines."""
    names: list[str] = []
    for line in source.splitlines():
        if not line.startswith("--"):
            break
        if line.startswith(_USES):
            names.append(line.removeprefix(_USES).split()[0])
    return names


@cache
def _lib(path: str) -> str:
    folder, _, file = path.partition("/")
    if folder != "lib" or "/" in file or not file.endswith(".lua"):
        raise ValueError(f"a script may use only lib/*.lua files, not {path!r}")
    return (_FOLDER / path).read_text(encoding="utf-8")


@cache
def script(name: str) -> LuaScript:
    """Return the packaged script ``name``, read on first use (a ``KeyError`` means a typo in the engine).

    A command line that runs one script reads one file (and the ``lib/`` files it uses), not all of them.
    """
    try:
        own = (_FOLDER / f"{name}.lua").read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise KeyError(name) from exc
    source = "\n".join([*(_lib(path) for path in _uses(own)), own])
    return LuaScript(name, source, hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest())


@cache
def all_scripts() -> dict[str, LuaScript]:
    """Return every packaged script by name (to load them all after a ``NOSCRIPT``)."""
    return {path.stem: script(path.stem) for path in sorted(_FOLDER.glob("*.lua"))}
