"""A plain script: enqueue typed tasks, run a worker until they are done, print their results.

    python examples/script.py [--redis URL] [--queue emails] [--users 3]

With no --redis (and no ASYNQ_REDIS_URL) it uses redis://localhost:6379/0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from typed_tasks import mux, send_welcome

from asynq_py.engine import Client, Inspector, Server, ServerConfig, TaskState


def main() -> int:
    """Enqueue one welcome email per user, process them, and print each result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default=os.environ.get("ASYNQ_REDIS_URL", "redis://localhost:6379/0"))
    parser.add_argument("--queue", default="emails")
    parser.add_argument("--users", type=int, default=3)
    args = parser.parse_args()

    with Client(args.redis) as client:
        infos = [
            client.enqueue(
                send_welcome.task(user_id=n, subject=f"Hello #{n}"), queue=args.queue, retention=600
            )
            for n in range(1, args.users + 1)
        ]
    server = Server(args.redis, ServerConfig(queues={args.queue: 1}, concurrency=4))
    server.start(mux)
    try:
        with Inspector(args.redis) as inspector:
            deadline = time.monotonic() + 30
            while True:
                done = [inspector.get_task_info(args.queue, i.id) for i in infos]
                if all(d.state is TaskState.COMPLETED for d in done):
                    break
                if time.monotonic() > deadline:
                    print("tasks did not complete within 30 s", file=sys.stderr)
                    return 1
                time.sleep(0.05)
    finally:
        server.shutdown()
    for info in done:
        print(f"{info.id} {(info.result or b'').decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
