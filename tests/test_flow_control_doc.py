"""docs/flow-control.md's snippets do what the text says: each ``asynq-py limit`` line, the
Inspector example, and the ``limit ls`` table's columns."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
import redis
from helpers import wait_for
from typer.testing import CliRunner

from asynq_py.cli.main import app
from asynq_py.engine import Client, Inspector, Limit, QueueLimits, Rate, Server, ServerConfig, Task, TaskState

pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "flow-control.md").read_text()


def snippet(name: str) -> str:
    found = re.search(rf"<!-- snippet: {name} -->\n```[a-z]*\n(.*?)```", DOC, re.S)
    assert found, f"no snippet {name!r} in docs/flow-control.md"
    return found.group(1)


def commands(name: str) -> list[list[str]]:
    """The snippet's command lines, without comments and without the leading ``asynq-py``."""
    lines = [shlex.split(line, comments=True) for line in snippet(name).splitlines()]
    assert all(words[0] == "asynq-py" for words in lines if words)
    return [words[1:] for words in lines if words]


@pytest.fixture
def url(real_redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    for name in list(os.environ):
        if name.startswith(("ASYNQ_", "XDG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ASYNQ_REDIS_URL", real_redis_url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    r = redis.Redis.from_url(real_redis_url)
    r.flushdb()
    r.close()
    return real_redis_url


def run(args: list[str]) -> str:
    result = CliRunner().invoke(app, args, prog_name="asynq-py")
    assert result.exit_code == 0, (args, result.stdout, result.stderr)
    return result.stdout


def test_the_examples_set_the_limits_the_text_describes(url: str) -> None:
    with Inspector(url) as inspector:
        for args in commands("api-cli"):
            run(args)
        assert inspector.get_queue_limits("partner-api").limits == QueueLimits(rate=Rate(100, 60_000))
        for args in commands("reports-cli") + commands("reports-queue-cli"):
            run(args)
        assert inspector.get_queue_limits("reports").limits == QueueLimits(
            concurrency=20, types={"report:heavy": Limit(concurrency=2)}
        )


def test_each_change_line_does_what_its_comment_says(url: str) -> None:
    expected = [
        QueueLimits(rate=Rate(100, 60_000)),
        QueueLimits(rate=Rate(100, 60_000, burst=10)),
        QueueLimits(concurrency=5, rate=Rate(100, 60_000, burst=10)),
        QueueLimits(5, Rate(100, 60_000, 10), {"partner:bulk": Limit(rate=Rate(10, 60_000))}),
        QueueLimits(concurrency=5, rate=Rate(100, 60_000, burst=10)),
        QueueLimits(),
    ]
    lines = commands("changes")
    assert len(lines) == len(expected)
    with Inspector(url) as inspector:
        for args, limits in zip(lines, expected, strict=True):
            run(args)
            assert inspector.get_queue_limits("partner-api").limits == limits, args


def test_the_inspector_example_runs(url: str) -> None:
    code = snippet("api-inspector").replace("redis://localhost:6379/0", url)
    exec(compile(code, "flow-control.md", "exec"), {})
    with Inspector(url) as inspector:
        assert inspector.get_queue_limits("partner-api").limits == QueueLimits(rate=Rate(100, 60_000))


def test_the_ls_example_has_the_real_columns(url: str) -> None:
    run(["limit", "set", "partner-api", "--rate", "100/m"])
    header = run(["limit", "ls"]).splitlines()[1].split()
    assert snippet("ls").splitlines()[0].split() == header


class FakeResponse:
    def __init__(self, status_code: int, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.headers = headers

    def raise_for_status(self) -> None:
        assert self.status_code < 400


def test_the_throttling_handler_reruns_its_task_without_a_retry(url: str) -> None:
    answers = [FakeResponse(429, {"Retry-After": "0"}), FakeResponse(200, {})]
    calls: list[object] = []

    class Partner:
        def post(self, address: str, json: object) -> FakeResponse:
            calls.append(json)
            return answers[len(calls) - 1]

    scope: dict[str, object] = {"partner": Partner()}
    exec(compile(snippet("throttle"), "flow-control.md", "exec"), scope)
    config = ServerConfig(
        queues={"partner-api": 1}, delayed_task_check_interval_s=0.2, task_check_interval_s=0.1
    )
    server = Server(url, config)
    with Client(url) as client, Inspector(url) as inspector:
        info = client.enqueue(Task("partner:sync", {"n": 1}), queue="partner-api", retention=600)
        server.start(scope["mux"])
        try:
            wait_for(
                lambda: inspector.get_task_info("partner-api", info.id).state == TaskState.COMPLETED,
                timeout=20,
                what="the throttled task to complete",
            )
        finally:
            server.shutdown()
        assert inspector.get_task_info("partner-api", info.id).retried == 0
        assert calls == [{"n": 1}, {"n": 1}]
        limits = inspector.get_queue_limits("partner-api")
        assert (limits.throttled, limits.throttled_total) == (1, 1)
        assert inspector.get_queue_info("partner-api").failed_total == 0


def test_server_config_limits_seed_only_a_queue_without_limits(url: str) -> None:
    code = snippet("server-config")
    setup, _, last = code.strip().rpartition("\n")
    assert last == 'Server("redis://localhost:6379/0", config).run(mux)'
    scope: dict[str, object] = {}
    exec(compile(setup, "flow-control.md", "exec"), scope)
    run(["limit", "set", "partner-api", "--rate", "5/s"])  # set at run time before the server starts
    server = Server(url, scope["config"])
    server.start(lambda ctx, task: None)
    try:
        with Inspector(url) as inspector:
            wait_for(
                lambda: not inspector.get_queue_limits("reports").limits.is_empty,
                timeout=10,
                what="the configured limits",
            )
            assert inspector.get_queue_limits("reports").limits == QueueLimits(
                concurrency=20, types={"report:heavy": Limit(concurrency=2)}
            )
            assert inspector.get_queue_limits("partner-api").limits == QueueLimits(
                rate=Rate(5, 1_000)
            )  # Redis won
    finally:
        server.shutdown()
