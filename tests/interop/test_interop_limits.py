"""Flow control next to Go: the limit keys and asynq-py's server marker leave Go's CLI and
Inspector undisturbed, and a real Go server serving a limited queue is named by ``limit ls``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from helpers import unique_queue, wait_for

from asynq_py.engine import Client, Inspector, Task, keys

from .support import Go, py_server, queue_json, server_json

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


def test_go_tools_read_a_limited_queue_and_go_servers_are_named(
    go: Go, real_redis_url: str, tmp_path: Path
) -> None:
    q = unique_queue("limited")
    r = redis.Redis.from_url(real_redis_url)
    with Client(real_redis_url) as client, Inspector(real_redis_url) as inspector:
        client.enqueue(Task("report:pdf", b"1"), queue=q)
        client.enqueue(Task("email:send", b"2"), queue=q)
        client.enqueue_in(3600, Task("report:pdf", b"3"), queue=q)
        inspector.pause_queue(q)  # both servers below serve the queue but take nothing
        inspector.set_queue_limits(q, concurrency=2, rate="100/m", burst=5)
        inspector.set_queue_limits(q, task_type="report:pdf", concurrency=1, rate="1/s")
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        r.set(keys.rate_state_key(q), now_ms + 60_000)
        r.set(keys.rate_state_key(q, "report:pdf"), now_ms + 60_000)
        r.zadd(keys.type_active_key(q, "report:pdf"), {"gone": 1})
        r.set(keys.throttled_total_key(q), 3)
        r.set(keys.throttled_key(q, datetime.now(UTC)), 3)
        with (
            go.server(tmp_path / "go", queues={q: 1}) as go_server,
            py_server(real_redis_url, tmp_path / "py", queues={q: 1}) as our_server,
        ):
            pids = {go_server.pid, our_server.pid}
            wait_for(lambda: pids <= {s.pid for s in inspector.servers()}, timeout=15, what="both heartbeats")

            # asynq-py names the Go server, and only it.
            info = inspector.get_queue_limits(q)
            assert [s.pid for s in info.unenforced_by] == [go_server.pid]
            assert (info.throttled, info.throttled_total) == (3, 3)

            # Go's Inspector: the same queues (no key of ours reads as a queue), the same stats, servers.
            assert go.inspect("queues") == inspector.queues()
            theirs = go.inspect("queue-info", q)
            ours = queue_json(inspector.get_queue_info(q))
            for field in ("Latency", "Timestamp"):
                del theirs[field], ours[field]
            assert theirs == ours
            go_servers = {s["PID"]: s for s in go.inspect("servers") if s["PID"] in pids}
            py_servers = {s.pid: server_json(s) for s in inspector.servers() if s.pid in pids}
            assert set(go_servers) == pids  # the marker key is not a server, and hides none
            for pid in pids:
                assert go_servers[pid]["ID"] == py_servers[pid]["ID"]
                assert go_servers[pid]["Queues"] == py_servers[pid]["Queues"] == {q: 1}

            # Go's CLI.
            assert q in go.cli("queue", "ls").split()
            stats = json.loads(go.cli("stats", "--json"))
            entry = next(e for e in stats["queues"] if e["Queue"] == q)
            assert (entry["Size"], entry["Pending"], entry["Scheduled"], entry["Paused"]) == (3, 2, 1, True)
            listing = go.cli("server", "ls")
            assert all(str(pid) in listing for pid in pids), listing
            pending = go.cli("task", "ls", "-q", q, "-s", "pending")
            assert all(t.id in pending for t in inspector.list_pending_tasks(q)), pending

        # Go removes the limited queue as any other; the limits it does not know stay behind
        # (asynq-py's `limit rm` clears them).
        go.cli("queue", "rm", q, "--force")
        assert q not in inspector.queues()
        assert r.exists(keys.limits_key(q))
        inspector.remove_queue_limits(q)
    r.close()
