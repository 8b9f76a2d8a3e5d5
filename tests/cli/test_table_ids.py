"""Ids are never cut in tables: at 80 columns other columns are cut or dropped first."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from seed import message, seed_task

from .conftest import ASYNQ_PY

TWINS = ("order-2026-12-03-customer-0000000000000001", "order-2026-12-03-customer-0000000000000002")


def ls(env, state: str, columns: int) -> list[str]:
    done = subprocess.run(
        [ASYNQ_PY, "ls", state],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env, "COLUMNS": str(columns)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("columns", [80, 100, 160])
def test_ls_retry_keeps_ids_queue_and_type_readable(env, r, columns) -> None:
    for task_id in TWINS:
        msg = message(
            "email:deliver:weekly-digest",
            b'{"user_id": 42, "template": "weekly", "locale": "en-GB"}',
            queue="critical",
            task_id=task_id,
            retried=3,
            error_msg="smtp: 451 4.7.1 greylisted, try again later (server mx1.example.net)",
            last_failed_at=int(time.time()) - 60,
        )
        seed_task(r, msg, "retry", score=time.time() + 3600)
    lines = ls(env, "retry", columns)
    assert all(len(line) <= columns for line in lines), "\n".join(lines)
    for task_id in TWINS:
        assert any(task_id in line for line in lines), "\n".join(lines)
    rows = [line for line in lines if line.startswith("order-")]
    assert all("critical" in row and "email:deliver" in row for row in rows), "\n".join(lines)


def test_schedule_ls_keeps_entry_ids_whole(env, r, tmp_path) -> None:
    schedules = tmp_path / "schedules.toml"
    entry = "nightly-report-for-the-finance-team-in-every-region-0001"
    added = subprocess.run(
        [ASYNQ_PY, "schedule", "add", "@daily", "report:finance:nightly", "--id", entry,
         "--schedules", str(schedules), "-p", '{"regions": ["emea", "amer", "apac"], "format": "pdf"}'],
        capture_output=True, text=True, timeout=60, env={**os.environ, **env},
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    for columns in (80, 160):
        done = subprocess.run(
            [ASYNQ_PY, "schedule", "ls", "--schedules", str(schedules)],
            capture_output=True, text=True, timeout=60, env={**os.environ, **env, "COLUMNS": str(columns)},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert entry in done.stdout, done.stdout
        assert all(len(line) <= columns for line in done.stdout.splitlines()), done.stdout
