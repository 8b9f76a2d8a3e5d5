"""The sync and async twins have the same API: same methods, in the same order, with the same full
signatures (parameter names, kinds, defaults and annotations, and return annotations)."""

from __future__ import annotations

import inspect

import pytest

from asynq_py.engine import AsyncClient, AsyncInspector, Client, Inspector

LIFECYCLE = {"close", "aclose", "__enter__", "__aenter__", "__exit__", "__aexit__"}
"""Where the twins differ on purpose: closing and context management."""
NO_IO = {"set_default_options"}
"""Methods that do no I/O, so the async twin's are plain functions too."""

PAIRS = [(Client, AsyncClient), (Inspector, AsyncInspector)]


def api(cls: type) -> list[str]:
    """The public methods a class defines, in definition order, plus ``__init__``."""
    names = [n for n, v in vars(cls).items() if callable(v) and (not n.startswith("_") or n == "__init__")]
    return [n for n in names if n not in LIFECYCLE]


@pytest.mark.parametrize(("sync", "asynchronous"), PAIRS, ids=lambda c: c.__name__)
def test_twins_define_the_same_methods_in_the_same_order(sync: type, asynchronous: type) -> None:
    assert api(sync) == api(asynchronous)


@pytest.mark.parametrize(("sync", "asynchronous"), PAIRS, ids=lambda c: c.__name__)
def test_twin_methods_have_the_same_full_signature(sync: type, asynchronous: type) -> None:
    for name in api(sync):
        ours, theirs = inspect.signature(getattr(sync, name)), inspect.signature(getattr(asynchronous, name))
        assert list(ours.parameters.values()) == list(theirs.parameters.values()), name
        assert ours.return_annotation == theirs.return_annotation, name


@pytest.mark.parametrize(("sync", "asynchronous"), PAIRS, ids=lambda c: c.__name__)
def test_async_twin_methods_are_coroutines_and_sync_ones_are_not(sync: type, asynchronous: type) -> None:
    for name in api(sync):
        if name == "__init__":
            continue
        assert not inspect.iscoroutinefunction(getattr(sync, name)), name
        assert inspect.iscoroutinefunction(getattr(asynchronous, name)) is (name not in NO_IO), name
