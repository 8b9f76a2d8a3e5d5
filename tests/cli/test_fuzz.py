"""Malformed argument lists: always a clean message and a documented exit code, never a traceback,
and never a change to the tasks already stored.

``ASYNQ_CLI_FUZZ_EXAMPLES`` sets how many lists each property tries (default 200; CI may raise it).
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asynq_py.cli.parse import check_json, parse_duration
from asynq_py.engine import Client, Task, TaskState

pytestmark = pytest.mark.real

EXAMPLES = int(os.environ.get("ASYNQ_CLI_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SEEDED_QUEUE = "keepme"
"""Holds the tasks that must survive; no generated token names it or its task ids."""

COMMANDS = [
    [], ["enqueue"], ["ls"], ["inspect"], ["retry"], ["kill"], ["delete"], ["cancel"], ["queues"],
    ["queue"], ["queue", "inspect"], ["queue", "rm"], ["pause"], ["unpause"], ["groups"], ["history"],
    ["servers"], ["stats"], ["cron"], ["cron", "ls"], ["cron", "history"], ["config"], ["config", "show"],
    ["config", "path"], ["nope"],
]  # fmt: skip
OPTIONS = [
    "--json", "--ids", "--all", "--yes", "-y", "--force", "-f", "-q", "--queue", "--type", "-t", "--group",
    "-g", "--limit", "-n", "--page", "--size", "--payload", "-p", "--raw", "--in", "--at", "--max-retry",
    "--timeout", "--deadline", "--unique", "--id", "--retention", "--header", "-H", "--batch", "--batch-size",
    "--days", "-d", "--workers", "--interval", "--count", "--quiet", "--debug", "--help", "-h", "--version",
    "--nope", "-", "--", "--redis", "--password",
]  # fmt: skip
VALUES = [
    *(s.value for s in TaskState), "PENDING", "default", "q1", "0", "-1", "1", "99999999999999999999999",
    "5m", "2d", "1h30m", "5x", "+2h", "now", "2026-01-01T00:00:00", "2026-01-01T00:00:00Z", "{", "{}", "[1,",
    '{"a":1}', "@/nonexistent", "k=v", "=", "", " ", "\x00", "\x1b[2J", "é", "a{b}", "null", "NaN", "1e999",
    "redis://127.0.0.1:1/0",
]  # fmt: skip
FORBIDDEN = ("--watch", "-w", "--install-completion", "--show-completion", "embedded", "init", SEEDED_QUEUE)
"""Tokens that would loop forever, touch the user's shell or servers, or name the seeded tasks."""

tokens = st.lists(
    st.sampled_from(OPTIONS) | st.sampled_from(VALUES) | st.text(max_size=12),
    max_size=8,
).filter(lambda ts: not any(forbidden in t for t in ts for forbidden in FORBIDDEN))


@pytest.fixture
def seeded(client: Client, inspector):
    for i in range(3):
        client.enqueue(Task("keep", {"i": i}), queue=SEEDED_QUEUE)
    client.enqueue_in(3600, Task("keep"), queue=SEEDED_QUEUE)
    inspector.archive_task(SEEDED_QUEUE, client.enqueue(Task("keep"), queue=SEEDED_QUEUE).id)

    def snapshot():
        return sorted(
            (t.id, t.state, bytes(t.payload))
            for state in TaskState
            if state is not TaskState.AGGREGATING
            for t in inspector.list_tasks(SEEDED_QUEUE, state, page_size=100)
        )

    before = snapshot()
    yield
    assert snapshot() == before


def assert_clean(run, allowed=frozenset({0, 2, 3, 4, 5})):
    assert run.exit_code in allowed, (run.exit_code, run.stdout, run.stderr)
    assert run.exception is None or isinstance(run.exception, SystemExit), repr(run.exception)
    assert "Traceback" not in run.stdout + run.stderr
    assert "internal error" not in run.stderr
    if run.exit_code != 0:
        # One line per failure: several ids may each fail; help (no command given) goes to stdout.
        errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
        assert errors or (run.exit_code == 2 and "Usage" in run.stdout), run.stderr


@FUZZ
@given(command=st.sampled_from(COMMANDS), before=tokens, after=tokens)
def test_random_arguments(cli, seeded, monkeypatch, tmp_path, command, before, after):
    monkeypatch.chdir(tmp_path)  # a generated path must not land in the repository
    assert_clean(cli(*before, *command, *after))


def rejected(parse, text):
    try:
        parse(text)
    except ValueError:
        return True
    return False


@FUZZ
@given(text=st.text(max_size=16))
def test_bad_durations_exit_2(cli, seeded, inspector, text):
    run = cli("enqueue", "fuzzed", "-q", "fuzz-out", "--in", text)
    if rejected(parse_duration, text.strip()) or text.startswith("-"):
        assert_clean(run, {2})
    else:
        assert_clean(run, {0})


@FUZZ
@given(
    text=st.text(max_size=24).filter(lambda t: not t.startswith(("@", "-")))
    | st.sampled_from(['{"a":', "[1,]", "{'a': 1}", '{"a":1}}', "01"])
)
def test_bad_payloads_exit_2(cli, seeded, text):
    run = cli("enqueue", "fuzzed", "-q", "fuzz-out", "--payload", text)
    if rejected(check_json, text.encode("utf-8", "surrogateescape")):
        assert_clean(run, {2})
        assert "payload is not" in run.stderr or "nested" in run.stderr
    else:
        assert_clean(run, {0})


@FUZZ
@given(text=st.text(max_size=12))
def test_unknown_states_exit_2(cli, seeded, text):
    run = cli("ls", text, "-q", SEEDED_QUEUE, "--json")
    if text.lower() in {s.value for s in TaskState}:
        assert_clean(run, {0})
        assert all(json.loads(line)["queue"] == SEEDED_QUEUE for line in run.stdout.splitlines())
    else:
        assert_clean(run, {2})
