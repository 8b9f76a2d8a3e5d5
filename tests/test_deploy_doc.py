"""docs/deploy.md's snippets work: the unit verifies, the Kubernetes worker's arguments serve the
probes and metrics its manifest names, the config files resolve, the ACL is the tested one."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port
from helpers import probe, wait_for
from prometheus_client.parser import text_string_to_metric_families

from asynq_py.engine import Client, RedisConnOpt, Task
from asynq_py.engine.settings import resolve

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "deploy.md").read_text()
ASYNQ_PY = str(Path(sys.executable).with_name("asynq-py"))


def snippet(name: str) -> str:
    found = re.search(rf"<!-- snippet: {name} -->\n```[a-z]*\n(.*?)```", DOC, re.S)
    assert found, f"no snippet {name!r} in docs/deploy.md"
    return found.group(1)


def test_systemd_unit_verifies_and_outlives_the_shutdown_timeout(tmp_path: Path) -> None:
    unit = snippet("systemd")
    exec_start = re.search(r"^ExecStart=(\S+) (.*)$", unit, re.M)
    assert exec_start
    args = shlex.split(exec_start.group(2))
    shutdown_s = float(args[args.index("--shutdown-timeout") + 1].removesuffix("s"))
    assert float(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1)) > shutdown_s
    assert "KillSignal=SIGTERM" in unit
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    local = unit.replace(exec_start.group(1), ASYNQ_PY).replace(
        "WorkingDirectory=/srv/app", f"WorkingDirectory={tmp_path}"
    )
    path = tmp_path / "asynq-py.service"
    path.write_text(local)
    done = subprocess.run([tool, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    broken = tmp_path / "broken.service"
    broken.write_text(local.replace(ASYNQ_PY, "/nonexistent/asynq-py"))
    assert subprocess.run([tool, "verify", str(broken)], capture_output=True, timeout=60).returncode != 0


@pytest.mark.real
def test_kubernetes_worker_serves_the_probes_and_metrics_its_manifest_names(
    real_redis_url: str, tmp_path: Path
) -> None:
    manifest = snippet("kubernetes")
    args = json.loads(re.search(r"^\s+args: (\[.*\])$", manifest, re.M).group(1))
    ports = dict(re.findall(r"\{name: (\w+), containerPort: (\d+)\}", manifest))
    assert re.search(r"livenessProbe:\n\s+httpGet: \{path: /livez, port: health\}", manifest)
    assert re.search(r"readinessProbe:\n\s+httpGet: \{path: /readyz, port: health\}", manifest)
    assert "{port: metrics, path: /metrics" in manifest
    grace = int(re.search(r"terminationGracePeriodSeconds: (\d+)", manifest).group(1))
    assert grace > float(args[args.index("--shutdown-timeout") + 1].removesuffix("s"))
    assert args[args.index("--health") + 1] == f"0.0.0.0:{ports['health']}"
    assert args[args.index("--metrics") + 1] == f"0.0.0.0:{ports['metrics']}"
    # Run the same arguments here, on loopback and free ports, with the example app.
    health, metrics = free_port(), free_port()
    local = [a.replace(f"0.0.0.0:{ports['health']}", f"127.0.0.1:{health}")
             .replace(f"0.0.0.0:{ports['metrics']}", f"127.0.0.1:{metrics}") for a in args]  # fmt: skip
    local[local.index("app:mux")] = "examples/app.py:mux"
    env = {**os.environ, "ASYNQ_REDIS_URL": real_redis_url, "ASYNQ_PY_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}  # fmt: skip
    proc = subprocess.Popen(
        [ASYNQ_PY, *local], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: probe(f"http://127.0.0.1:{health}/readyz")[0] == 200, timeout=30, what="ready")
        assert probe(f"http://127.0.0.1:{health}/livez") == (200, "ok\n")
        with Client(real_redis_url) as client:
            client.enqueue(Task("email:deliver", {"user_id": 1}), queue="critical")

        def scraped() -> set[str]:
            status, text = probe(f"http://127.0.0.1:{metrics}/metrics")
            return {f.name for f in text_string_to_metric_families(text)} if status == 200 else set()

        wait_for(
            lambda: {"asynq_worker_concurrency", "asynq_worker_tasks_succeeded"} <= scraped(), timeout=30
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=40)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert proc.returncode == 0, err
    assert b"not a loopback address" not in err
    lines = err.decode().splitlines()
    assert all(json.loads(line) for line in lines), lines  # --log-format json


@pytest.mark.parametrize("name", ["sentinel", "cluster"])
def test_redis_configs_resolve(tmp_path: Path, name: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(snippet(name))
    settings = resolve(redis=None, password=None, config=str(config), env={})
    assert settings.problem is None
    assert settings.warnings == ()
    opt = settings.conn_opt(start=False)
    assert isinstance(opt, RedisConnOpt)
    if name == "sentinel":
        assert len(opt.sentinel_addrs) == 3
        assert opt.sentinel_master == "mymaster"
        assert opt.password == "the master's password"
        assert settings.log_format == "json"
    else:
        assert len(opt.cluster_addrs) == 3
        assert opt.username == "asynq"


def test_tracing_snippet_wires_a_client_and_a_mux() -> None:
    scope: dict[str, object] = {}
    exec(compile(snippet("tracing"), "deploy.md", "exec"), scope)  # Client connects lazily: no Redis here
    mux, client = scope["mux"], scope["client"]
    assert len(mux._middlewares) == 1  # type: ignore[attr-defined]
    assert client._core.hook is not None  # type: ignore[attr-defined]
    client.close()  # type: ignore[attr-defined]


def test_acl_is_the_one_the_security_tests_use() -> None:
    acl = snippet("acl").strip()
    assert acl in (ROOT / "docs" / "security.md").read_text()
    rules = re.search(
        r"^ACL_RULES = \((.*)\)$", (ROOT / "tests" / "engine" / "test_security.py").read_text(), re.M
    )
    tested = [r.strip().strip('"') for r in rules.group(1).split(",")]
    assert acl.split()[3:] == [r.replace(">pw", ">CHANGE-ME") for r in tested]
