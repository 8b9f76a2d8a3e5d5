"""The script loader: a script gets the ``lib/`` snippets its header names prepended, and its SHA1
is that of the text sent, so EVALSHA finds what SCRIPT LOAD stored (fakeredis and the real server)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import redis

import asynq_py.engine.scripts as scripts
from asynq_py.engine.scripts import _lib, _uses, all_scripts, script

FOLDER = Path(scripts.__file__).parent


def test_a_script_that_uses_a_snippet_is_sent_with_it_first() -> None:
    lib = (FOLDER / "lib" / "take_out.lua").read_text(encoding="utf-8")
    for name in ("archive_task", "delete_task"):
        own = (FOLDER / f"{name}.lua").read_text(encoding="utf-8")
        lua = script(name)
        assert lua.source == f"{lib}\n{own}"
        assert lua.sha == hashlib.sha1(lua.source.encode()).hexdigest()


def test_a_script_that_uses_two_snippets_is_sent_with_both_in_header_order() -> None:
    wake, freed = (
        (FOLDER / "lib" / name).read_text(encoding="utf-8") for name in ("wake.lua", "slot_freed.lua")
    )
    own = (FOLDER / "requeue.lua").read_text(encoding="utf-8")
    assert script("requeue").source == f"{wake}\n{freed}\n{own}"


def test_a_script_that_uses_nothing_is_sent_as_its_file() -> None:
    assert script("extend_leases").source == (FOLDER / "extend_leases.lua").read_text(encoding="utf-8")


def test_only_header_lines_name_snippets() -> None:
    source = "-- Archive.\n-- Uses lib/a.lua (why)\n-- Uses lib/b.lua\nlocal x = 1\n-- Uses lib/c.lua\n"
    assert _uses(source) == ["lib/a.lua", "lib/b.lua"]


def test_every_snippet_is_used_by_a_script_and_is_not_one() -> None:
    named = {path for name in all_scripts() for path in _uses((FOLDER / f"{name}.lua").read_text())}
    assert named == {f"lib/{p.name}" for p in (FOLDER / "lib").glob("*.lua")}
    assert not {Path(path).stem for path in named} & set(all_scripts())


@pytest.mark.parametrize("path", ["enqueue.lua", "lib/../enqueue.lua", "lib/take_out.py"])
def test_a_use_outside_lib_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="only lib/"):
        _lib(path)


def test_redis_stores_each_script_under_its_sha(redis_client: redis.Redis) -> None:
    for name in ("archive_task", "delete_task", "enqueue"):
        lua = script(name)
        assert redis_client.script_load(lua.source) == lua.sha
        assert redis_client.script_exists(lua.sha) == [True]
