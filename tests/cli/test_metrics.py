"""``asynq-py metrics`` and ``serve --metrics``: scraped over HTTP and parsed with prometheus_client."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import stop, wait_for
from prometheus_client.parser import text_string_to_metric_families

from asynq_py.engine import Client, Inspector, Task

from ..conftest import free_port
from .conftest import ASYNQ_PY

ROOT = Path(__file__).resolve().parents[2]


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [ASYNQ_PY, *args], cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_exporter_serves_go_named_queue_metrics(env, client: Client, inspector: Inspector) -> None:
    for _ in range(3):
        client.enqueue(Task("t"), queue="mail")
    client.enqueue_in(3600, Task("t"), queue="mail")
    inspector.pause_queue("mail")
    port = free_port()
    proc = start(env, "metrics", "--listen", f"127.0.0.1:{port}")
    try:
        got = wait_for(lambda: scrape(f"http://127.0.0.1:{port}/metrics"), timeout=20)
        assert got[("asynq_tasks_enqueued_total", (("queue", "mail"), ("state", "pending")))] == 3
        assert got[("asynq_tasks_enqueued_total", (("queue", "mail"), ("state", "scheduled")))] == 1
        assert got[("asynq_queue_size", (("queue", "mail"),))] == 4
        assert got[("asynq_queue_paused_total", (("queue", "mail"),))] == 1
        assert got[("asynq_tasks_processed_total", (("queue", "mail"),))] == 0
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err


def test_exporter_refuses_a_bad_address_and_warns_on_a_public_one(cli) -> None:
    bad = cli("metrics", "--listen", "nowhere")
    assert bad.exit_code == 2
    assert "HOST:PORT" in bad.stderr
    busy = free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", busy))
        held.listen()
        taken = cli("metrics", "--listen", f"127.0.0.1:{busy}")
    assert taken.exit_code == 1
    assert "cannot listen" in taken.stderr
    public = cli("metrics", "--listen", "203.0.113.7:1")  # TEST-NET-3: never bound here
    assert "not a loopback address" in public.stderr
    assert "cannot listen" in public.stderr


def test_metrics_without_the_extra_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['prometheus_client'] = None; sys.argv = ['asynq-py', 'metrics']; "
        "from asynq_py.cli.entry import main; sys.exit(main())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "pip install 'asynq-py[metrics]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_group_has_one_metrics_endpoint(env, client: Client, inspector: Inspector) -> None:
    port = free_port()
    proc = start(env, "serve", "examples/app.py:mux", "--processes", "2", "--concurrency", "3", "-q", "work",
                 "--shutdown-timeout", "2s", "--metrics", f"127.0.0.1:{port}")  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_for(lambda: len([s for s in inspector.servers() if "work" in s.queues]) == 2, timeout=20)
        for i in range(10):
            client.enqueue(Task("email:deliver", {"user_id": i}), queue="work")
        key = ("asynq_worker_tasks_succeeded_total", (("queue", "work"), ("task_type", "email:deliver")))
        got = wait_for(lambda: (m := scrape(url)) and m.get(key) == 10 and m, timeout=20)
        assert got[("asynq_worker_concurrency", ())] == 6  # both processes, summed
        assert got[("asynq_worker_tasks_started_total", key[1])] == 10
        assert got[("asynq_worker_task_duration_seconds_count", key[1])] == 10
        assert got[("asynq_worker_tasks_in_flight", key[1])] == 0
        # A worker killed and restarted: its counts stay, its gauges go with it (not 3 + 3 + 3).
        victim = next(s.pid for s in inspector.servers() if "work" in s.queues)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: {s.pid for s in inspector.servers() if "work" in s.queues} - {victim}
                 and len([s for s in inspector.servers() if "work" in s.queues and s.pid != victim]) == 2,
                 timeout=30)  # fmt: skip
        after = wait_for(lambda: scrape(url), timeout=10)
        assert after[("asynq_worker_concurrency", ())] == 6
        assert after[key] == 10
    finally:
        err = stop(proc)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
