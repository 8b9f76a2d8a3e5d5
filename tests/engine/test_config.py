"""Redis URL parsing and the embedded default server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from asynq_py.engine import Client, Inspector, RedisConnOpt, RedisUnavailableError, Task, ValidationError
from asynq_py.engine.embedded import EmbeddedRedis


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost", RedisConnOpt(host="localhost")),
        ("redis://:pw@h:7000/3", RedisConnOpt(host="h", port=7000, db=3, password="pw")),
        ("redis://user:p%40ss@h/0", RedisConnOpt(host="h", username="user", password="p@ss")),
        ("rediss://h:6380?ca=/ca.pem", RedisConnOpt(host="h", port=6380, tls=True, tls_ca_file="/ca.pem")),
        ("redis-socket:///tmp/r.sock?db=2", RedisConnOpt(unix_socket="/tmp/r.sock", db=2)),
        (
            "redis-sentinel://:spw@s1:26379,s2?master=main",
            RedisConnOpt(
                sentinel_addrs=(("s1", 26379), ("s2", 26379)), sentinel_master="main", sentinel_password="spw"
            ),
        ),
        ("redis-cluster://a:7000,b:7001", RedisConnOpt(cluster_addrs=(("a", 7000), ("b", 7001)))),
    ],
)
def test_from_url(url: str, expected: RedisConnOpt) -> None:
    assert RedisConnOpt.from_url(url) == expected


@pytest.mark.parametrize(
    "url", ["http://h", "redis://", "redis://h:notaport", "redis://h/x", "redis://h:99999"]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValidationError):
        RedisConnOpt.from_url(url)


def test_repr_never_shows_the_password() -> None:
    opt = RedisConnOpt.from_url("redis://u:CANARY-secret@h:1/0")
    assert "CANARY" not in repr(opt)
    assert "CANARY" not in opt.redacted_url()
    with pytest.raises(ValidationError) as err:
        RedisConnOpt.from_url("http://u:CANARY-secret@h")
    assert "CANARY" not in str(err.value)


def test_unreachable_redis_is_a_clean_error() -> None:
    client = Client(RedisConnOpt(host="127.0.0.1", port=1, connect_timeout_s=0.5))
    with pytest.raises(RedisUnavailableError):
        client.enqueue(Task("a"))


@pytest.mark.real
def test_embedded_server_is_shared_and_durable(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "home")
    try:
        url = server.ensure_running()
        # A second process finds the same server through the socket.
        code = f"import asynq_py.engine as e; e.Client({url!r}).enqueue(e.Task('from-child'), task_id='c1')"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        with Inspector(url) as inspector:
            assert inspector.get_task_info("default", "c1").type == "from-child"
        server.stop()
        assert not server.is_running()
        url = server.ensure_running()
        with Inspector(url) as inspector:
            assert inspector.get_task_info("default", "c1").type == "from-child"
    finally:
        server.stop()


@pytest.mark.real
def test_finding_the_running_embedded_server_starts_no_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every command with the embedded default checks that it runs: one connect to its socket.
    server = EmbeddedRedis(tmp_path / "home")
    try:
        url = server.ensure_running()

        def no_process(*args: object, **kwargs: object) -> None:
            raise AssertionError(f"started a process to find a running server: {args}")

        with monkeypatch.context() as patched:
            patched.setattr(subprocess, "run", no_process)
            patched.setattr(subprocess, "Popen", no_process)
            assert server.ensure_running() == url
            assert EmbeddedRedis(tmp_path / "home").ensure_running() == url
    finally:
        server.stop()


def test_embedded_server_keeps_its_folder_and_files_to_the_user(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o777)
    (home / "dump.rdb").write_bytes(b"")
    (home / "dump.rdb").chmod(0o644)
    server = EmbeddedRedis(home)
    try:
        url = server.ensure_running()
        with Client(url) as client:
            client.enqueue(Task("secret"))
        files = [p for p in home.rglob("*") if not p.is_symlink()]
        assert any(p.name.endswith(".aof") for p in files), files
        loose = {str(p): oct(p.stat().st_mode & 0o777) for p in [home, *files] if p.stat().st_mode & 0o077}
        assert loose == {}
    finally:
        server.stop()
    warned = [r.getMessage() for r in caplog.records if "restricted it to its owner" in r.getMessage()]
    assert len(warned) == 2, warned
    assert "mode 777" in warned[0], warned
    assert "mode 644" in warned[1], warned
