"""Settings: flag > env > config file > embedded default; passwords; ``config init|show|path``."""

from __future__ import annotations

import json
import stat
import time
import tomllib
from pathlib import Path

import pytest
import redis

from asynq_py.engine import Inspector
from asynq_py.engine.embedded import EmbeddedRedis

pytestmark = pytest.mark.real


def default_config(env) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "asynq-py" / "config.toml"


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def show(cli, *args):
    return json.loads(cli(*args, "config", "show", "--json").check().stdout)


def test_precedence_flag_env_file_default(cli, env, monkeypatch):
    monkeypatch.delenv("ASYNQ_REDIS_URL")
    shown = show(cli)
    assert (shown["redis_url"], shown["redis_url_source"], shown["embedded"]) == ("embedded", "default", True)
    assert shown["data_dir"] == str(Path(env["XDG_DATA_HOME"]) / "asynq-py")
    write_config(default_config(env), '[redis]\nurl = "redis://file-host:1/2"\n')
    shown = show(cli)
    assert (shown["redis_url"], shown["redis_url_source"]) == ("redis://file-host:1/2", "config file")
    assert shown["config_exists"] is True
    monkeypatch.setenv("ASYNQ_REDIS_URL", "redis://env-host:1/0")
    assert show(cli)["redis_url_source"] == "ASYNQ_REDIS_URL"
    shown = show(cli, "--redis", "redis://flag-host:1/0")
    assert (shown["redis_url"], shown["redis_url_source"]) == ("redis://flag-host:1/0", "--redis")


def test_config_path_from_flag_and_env(cli, env, monkeypatch, tmp_path):
    assert cli("config", "path").check().stdout.strip() == str(default_config(env))
    other = write_config(tmp_path / "other.toml", '[redis]\nurl = "redis://other:1/0"\n')
    monkeypatch.setenv("ASYNQ_CONFIG", str(other))
    record = json.loads(cli("config", "path", "--json").check().stdout)
    assert record == {"path": str(other), "exists": True, "source": "ASYNQ_CONFIG"}
    third = tmp_path / "third.toml"
    assert cli("--config", str(third), "config", "path").check().stdout.strip() == str(third)


def test_named_config_file_must_exist(cli, tmp_path):
    missing = tmp_path / "missing.toml"
    assert "does not exist" in cli("--config", str(missing), "ls", "pending").check(2).error
    assert "does not exist" in cli("--config", str(missing), "config", "show").check(2).error


def test_passwords_are_masked_and_ranked(cli, env, monkeypatch):
    shown = show(cli, "--redis", "redis://user:hunter2@host:1/0")
    assert shown["redis_url"] == "redis://user:***@host:1/0"
    write_config(default_config(env), '[redis]\npassword = "from-file"\n')
    assert (show(cli)["password"], show(cli)["password_source"]) == ("***", "config file")
    monkeypatch.setenv("ASYNQ_REDIS_PASSWORD", "from-env")
    assert show(cli)["password_source"] == "ASYNQ_REDIS_PASSWORD"
    run = cli("--password", "from-flag", "config", "show", "--json").check()
    assert json.loads(run.stdout)["password_source"] == "--password"
    assert run.stderr.count("warning: --password is visible") == 1
    out = cli("--password", "from-flag", "config", "show").check().stdout
    assert "from-flag" not in out
    assert "from-env" not in out
    assert "***" in out


def test_password_reaches_redis(cli, real_server_factory, monkeypatch, env):
    server = real_server_factory()
    admin = redis.Redis.from_url(server.url)
    admin.config_set("requirepass", "s3cret")  # after start: the factory's readiness ping has no password
    admin.close()
    monkeypatch.setenv("ASYNQ_REDIS_URL", server.url)
    run = cli("queues").check(5)
    assert server.url in run.error
    monkeypatch.setenv("ASYNQ_REDIS_PASSWORD", "wrong")
    assert "authentication" in cli("queues").check(5).error
    monkeypatch.setenv("ASYNQ_REDIS_PASSWORD", "s3cret")
    cli("enqueue", "t").check()
    monkeypatch.delenv("ASYNQ_REDIS_PASSWORD")
    write_config(default_config(env), '[redis]\npassword = "s3cret"\n')
    assert "no pending tasks" not in cli("ls", "pending").check().stderr
    default_config(env).unlink()
    assert "warning" in cli("--password", "s3cret", "queues").check().stderr


def test_config_init(cli, env, monkeypatch):
    monkeypatch.setenv("ASYNQ_REDIS_URL", "redis://init-host:6379/3")
    target = default_config(env)
    assert str(target) in cli("config", "init").check().stderr
    assert tomllib.loads(target.read_text()) == {"redis": {"url": "redis://init-host:6379/3"}}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "--force" in cli("config", "init").check(4).error
    monkeypatch.delenv("ASYNQ_REDIS_URL")
    cli("--redis", "embedded", "config", "init", "--force").check()
    assert tomllib.loads(target.read_text()) == {"redis": {"url": "embedded"}}


def test_config_init_at_a_named_path(cli, tmp_path):
    target = tmp_path / "sub" / "named.toml"
    cli("--config", str(target), "config", "init").check()
    assert target.exists()
    assert show(cli, "--config", str(target))["config_exists"] is True


def test_bad_config_files(cli, env):
    path = write_config(default_config(env), "[redis\nurl = 1\n")
    run = cli("queues").check(2)
    assert "not valid TOML" in run.error
    assert str(path) in run.error
    write_config(path, "[redis]\nurl = 5\n")
    assert "must be a string" in cli("queues").check(2).error
    write_config(path, 'colour = "blue"\n[redis]\nport = 1\n')
    run = cli("queues").check()
    assert "unknown key 'colour'" in run.stderr
    assert "unknown key 'redis.port'" in run.stderr
    cli("config", "init", "--force").check()


def test_invalid_url_is_bad_input(cli):
    run = cli("--redis", "http://nope", "queues").check(2)
    assert "--redis" in run.error
    assert "scheme" in run.error


def test_embedded_default_starts_and_is_shared(cli, monkeypatch, short_tmp):
    monkeypatch.delenv("ASYNQ_REDIS_URL")
    monkeypatch.setenv("ASYNQ_PY_HOME", str(short_tmp))
    server = EmbeddedRedis(short_tmp)
    try:
        task_id = cli("enqueue", "hello").check().stdout.strip()
        assert server.is_running()
        assert cli("ls", "pending", "--ids").check().stdout.split() == [task_id]
        with Inspector(server.url) as inspector:
            assert inspector.get_task_info("default", task_id).type == "hello"
        shown = show(cli)
        assert shown["data_dir"] == str(short_tmp)
        assert shown["data_dir_source"] == "ASYNQ_PY_HOME"
    finally:
        server.stop()


def test_enqueue_durability_from_the_config_file(cli, env, real_server_factory, monkeypatch):
    shown = show(cli)
    assert (shown["durability"], shown["durability_source"]) == ("async", "default")
    path = default_config(env)
    for bad, why in (
        ('[enqueue]\ndurability = "quorum"\n', "'enqueue.durability' must be"),
        ("[enqueue]\nmin_replicas = 0\n", "'enqueue.min_replicas' must be"),
        ("[enqueue]\nreplication_timeout = -1\n", "'enqueue.replication_timeout' must be"),
        ("[enqueue]\nwait = 1\n", "unknown key 'enqueue.wait'"),
    ):
        write_config(path, bad)
        assert why in cli("config", "show").check(2).error
    # A master with one replica: min_replicas = 1 succeeds, 2 fails with exit 5 and says what to do.
    master = real_server_factory(extra=("--repl-diskless-sync-delay", "0"))
    replica = real_server_factory(extra=("--replicaof", "127.0.0.1", str(master.port)))
    monkeypatch.setenv("ASYNQ_REDIS_URL", master.url)
    raw = redis.Redis(port=replica.port)
    try:
        deadline = time.monotonic() + 15
        while raw.info("replication").get("master_link_status") != "up":
            assert time.monotonic() < deadline, "the replica did not sync"
            time.sleep(0.05)
        write_config(
            path, '[enqueue]\ndurability = "replicated"\nmin_replicas = 1\nreplication_timeout = 2\n'
        )
        shown = show(cli)
        assert (shown["durability"], shown["min_replicas"], shown["replication_timeout_s"]) == (
            "replicated",
            1,
            2.0,
        )
        cli("enqueue", "t", "--id", "one").check()
        assert raw.exists("asynq:{default}:t:one")  # on the replica when the command returned
        write_config(
            path, '[enqueue]\ndurability = "replicated"\nmin_replicas = 2\nreplication_timeout = 0.2\n'
        )
        run = cli("enqueue", "t", "--id", "two").check(5)
        assert "only 1 of 2 replicas" in run.error
        assert "--id two" in run.error
    finally:
        raw.close()
