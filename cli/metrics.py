"""``asynq-py metrics``: a Prometheus exporter of queue metrics, Go asynq ``x/metrics``'s twin.

``prometheus_client`` comes with the ``metrics`` extra and is imported only when a command needs it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .context import get_state
from .errors import CliError, ExitCode

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from asynq_py.engine import WorkerObserver

    from .httpd import Response, Route

__all__ = ["app", "metrics_route", "require_metrics_extra", "worker_metrics"]

app = typer.Typer()


def require_metrics_extra() -> None:
    """Raise ``CliError`` unless ``prometheus_client`` can be imported."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise CliError(
            "metrics need prometheus-client: pip install 'asynq-py[metrics]'", ExitCode.ERROR
        ) from None


def metrics_route(registry: CollectorRegistry) -> Response:
    """Return the text exposition of ``registry``."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return 200, CONTENT_TYPE_LATEST, generate_latest(registry)


@contextmanager
def worker_metrics() -> Iterator[tuple[WorkerObserver, Route]]:
    """Yield a worker observer and the route that serves what it and its forked children count.

    The values live in a temporary folder (prometheus_client's multiprocess mode), so that a
    ``--processes N`` group has one endpoint; gauges of processes that died are dropped at each
    scrape; the folder is removed at exit.
    """
    folder = tempfile.mkdtemp(prefix="asynq-py-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # read when prometheus_client is first imported
    try:
        require_metrics_extra()
        from prometheus_client import CollectorRegistry, multiprocess

        from asynq_py.engine.x.worker_metrics import WorkerMetrics

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, folder)  # type: ignore[no-untyped-call]

        def route() -> Response:
            for pid in _dead_pids(Path(folder)):
                multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]
            return metrics_route(registry)

        yield WorkerMetrics(registry=None), route
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _dead_pids(folder: Path) -> set[int]:
    pids = {int(m[1]) for p in folder.glob("gauge_live*.db") if (m := re.search(r"_(\d+)\.db$", p.name))}
    dead = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.add(pid)
        except PermissionError:
            pass
    return dead


@app.command(rich_help_panel="Servers")
def metrics(
    ctx: typer.Context,
    listen: Annotated[
        str, typer.Option("--listen", metavar="HOST:PORT", help="Where to serve /metrics.")
    ] = "127.0.0.1:9876",
) -> None:
    """Serve queue metrics for Prometheus at /metrics until SIGTERM or Ctrl+C.

    The metrics have the names, types, labels and help texts of Go asynq's x/metrics collector
    (asynq_tasks_enqueued_total, asynq_queue_size, ...), so Go asynq dashboards work unchanged.
    Every scrape reads every queue once, in one pipelined round trip. Needs asynq-py[metrics].
    """
    from .httpd import parse_listen, serve_routes, wait_for_stop_signal

    state = get_state(ctx)
    host, port = parse_listen(listen, "--listen")
    require_metrics_extra()
    from prometheus_client import CollectorRegistry

    from asynq_py.engine.x.queue_metrics import QueueMetricsCollector

    with state.inspector() as inspector:
        registry = CollectorRegistry()
        registry.register(QueueMetricsCollector(inspector))
        server = serve_routes(host, port, {"/metrics": lambda: metrics_route(registry)})
        state.note(f"serving queue metrics at http://{listen}/metrics from {state.display_url}")
        try:
            wait_for_stop_signal()
        finally:
            server.shutdown()
