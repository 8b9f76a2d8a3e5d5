"""A newcomer's papercuts, each through the real ``asynq-py`` entry point."""

from __future__ import annotations

import os
import pty
import subprocess

from asynq_py.engine import Client, Task

from .conftest import ASYNQ_PY


def run(env, *args, input=None, extra=None):
    return subprocess.run(
        [ASYNQ_PY, *args], input=input, capture_output=True, text=True, timeout=60,
        env={**os.environ, **env, **(extra or {})},
    )  # fmt: skip


def test_queues_shows_aggregating_so_sizes_add_up(env, r, real_redis_url):
    with Client(real_redis_url) as client:
        client.enqueue(Task("digest", {"n": 1}), group="daily")
        client.enqueue(Task("plain"))
    done = run(env, "queues")
    assert done.returncode == 0, done.stderr
    header, row = [line.split() for line in done.stdout.splitlines() if "default" in line or "Queue" in line]
    values = dict(zip(header, row, strict=True))
    assert values["Aggregating"] == "1"
    assert values["Pending"] == "1"
    assert values["Size"] == "2"


def test_groups_of_a_missing_queue_says_only_not_found(env, r):
    done = run(env, "groups", "nosuchq")
    assert done.returncode == 3
    assert done.stderr.splitlines() == [
        line for line in done.stderr.splitlines() if line.startswith("error:")
    ]
    assert "no groups" not in done.stderr


def test_a_huge_duration_is_too_large_not_malformed(env, r):
    done = run(env, "enqueue", "t", "--in", "10000000d")
    assert done.returncode == 2
    assert "too large" in done.stderr
    assert "a number and a unit" not in done.stderr


def test_batch_reports_every_bad_line_and_stores_nothing(env, r):
    lines = ['{"type": "ok"}', "{", '{"type": "ok"}', '{"nope": 1}', "[1]", ""] + ["{"] * 25
    done = run(env, "enqueue", "--batch", "-", input="\n".join(lines) + "\n")
    assert done.returncode == 2, done.stderr
    errors = done.stderr.splitlines()
    assert errors[:3] == [
        e for e in errors[:3] if e.startswith(("error: line 2:", "error: line 4:", "error: line 5:"))
    ]
    assert len([e for e in errors if e.startswith("error: line ")]) == 20
    assert errors[-1] == "error: 28 bad lines in the batch (8 not shown); nothing was stored"
    assert r.dbsize() == 0


def test_a_past_deadline_is_warned_about(env, r):
    done = run(env, "enqueue", "t", "--deadline", "2020-01-01T00:00:00Z")
    assert done.returncode == 0
    assert "warning: --deadline 2020-01-01T00:00:00+00:00 has passed" in done.stderr


def test_batch_from_a_terminal_says_it_is_reading(env, r):
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [ASYNQ_PY, "enqueue", "--batch", "-"], stdin=follower, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, **env},
        )  # fmt: skip
        os.write(leader, b'{"type": "t"}\n\x04')
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 0, err
    assert "reading NDJSON from stdin (Ctrl-D to end)" in err
    assert len(out.split()) == 1


def test_all_completion_offers_only_the_states_the_command_takes(env):
    offered = {}
    for verb in ("retry", "kill"):
        completion = {
            "_ASYNQ_PY_COMPLETE": "complete_bash",
            "COMP_WORDS": f"asynq-py {verb} --all ",
            "COMP_CWORD": "3",
        }
        offered[verb] = run(env, extra=completion).stdout.split()
    assert offered["retry"] == ["scheduled", "retry", "archived", "aggregating"]
    assert offered["kill"] == ["pending", "scheduled", "retry", "aggregating"]


def test_help_shows_no_python_type_names(env):
    for command in ("ls", "enqueue", "serve", "retry", "scheduler"):
        done = run(env, command, "--help", extra={"COLUMNS": "200"})
        assert done.returncode == 0
        options = done.stdout.split("─ Options ", 1)[1]
        assert not any(name in options for name in ("<bool>", "<str>", "<int>")), (command, options)
