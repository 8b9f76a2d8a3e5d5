"""README's quickstart runs pasted as is on a machine with no Redis, and its second-shell commands see it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from asynq_py.engine import Inspector, TaskState
from asynq_py.engine.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[1]
ASYNQ_PY = str(Path(sys.executable).with_name("asynq-py"))


@pytest.fixture
def fresh_home() -> Iterator[dict[str, str]]:
    """An environment like a new user's: no Redis settings, no config, an empty home (short path)."""
    home = Path(tempfile.mkdtemp(prefix="aqhome", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNQ_", "XDG_"))}
    env |= {"HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    try:
        yield env
    finally:
        EmbeddedRedis(home / ".local" / "share" / "asynq-py").stop()
        shutil.rmtree(home, ignore_errors=True)


def quickstart() -> str:
    section = README_TEXT.split("## Quickstart", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match
    return match.group(1)


README_TEXT = (ROOT / "README.md").read_text()


def test_quickstart_runs_with_no_redis_and_a_second_shell_sees_it(fresh_home) -> None:
    home = Path(fresh_home["HOME"])
    (home / "quickstart.py").write_text(quickstart())
    proc = subprocess.Popen(
        [sys.executable, "quickstart.py"],
        cwd=home,
        env=fresh_home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        data_dir = home / ".local" / "share" / "asynq-py"
        deadline = time.monotonic() + 30
        while not EmbeddedRedis(data_dir).is_running():  # the quickstart started the embedded server
            assert proc.poll() is None, proc.communicate(timeout=10)
            assert time.monotonic() < deadline, "the embedded server never came up"
            time.sleep(0.05)
        with Inspector(EmbeddedRedis(data_dir).url) as inspector:
            # The server comes up before the quickstart has enqueued, so "critical" may not exist yet.
            while not any(q.queue == "critical" and q.processed >= 1 for q in inspector.queue_infos()):
                assert proc.poll() is None, proc.communicate(timeout=10)
                assert time.monotonic() < deadline, "the email task never ran"
                time.sleep(0.05)
        second_shell = subprocess.run(
            [ASYNQ_PY, "ls", "scheduled", "--json"],
            env=fresh_home,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second_shell.returncode == 0, second_shell.stderr
        assert '"type":"image:resize"' in second_shell.stdout
        assert f'"state":"{TaskState.SCHEDULED.value}"' in second_shell.stdout
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, err
    assert b"to user 42 retry 0" in out
    assert b"Traceback" not in err


def test_readme_says_how_to_get_the_command_on_path() -> None:
    install = README_TEXT.split("## Install", 1)[1].split("## ", 1)[0]
    assert ". .venv/bin/activate" in install
    assert "pipx install" in install
