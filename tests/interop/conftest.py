"""Fixtures for the interop tests that drive real Go asynq.

``go_tools`` maps program names (goclient, goserver, goinspect, goscheduler,
gotrace, vectors, asynqmon, asynq) to built binaries; see gobuild.py and the package comments in
go/cmd/*/main.go for each program's flags and JSON output. The Redis server
comes from the root conftest's ``real_redis_url`` fixture.

A cold build takes longer than the per-test timeout, so when any selected test
uses ``go_tools`` the build runs once at the end of collection, before any
test's timeout clock starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .gobuild import GoBuildError, build_go_tools, go_available
from .support import Go

_build_error: str | None = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    global _build_error
    if not any("go_tools" in getattr(item, "fixturenames", ()) for item in items):
        return
    if go_available() is not None:
        return
    try:
        build_go_tools()
    except GoBuildError as exc:
        _build_error = str(exc)


@pytest.fixture(scope="session")
def go_tools() -> dict[str, Path]:
    reason = go_available()
    if reason is not None:
        pytest.skip(reason)
    if _build_error is not None:
        pytest.fail(f"building the Go interop tools failed:\n{_build_error}", pytrace=False)
    return build_go_tools()


@pytest.fixture
def go(go_tools: dict[str, Path], real_redis_url: str, tmp_path: Path) -> Go:
    """The Go programs bound to the session's Redis (see support.Go); skips when Go is missing."""
    home = tmp_path / "home"
    home.mkdir()
    return Go(go_tools, real_redis_url, home)
