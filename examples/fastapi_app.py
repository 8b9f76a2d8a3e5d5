"""FastAPI recipe: one ``AsyncClient`` for the app's lifetime, typed tasks enqueued from a route.

    pip install 'asynq-py[fastapi]' uvicorn
    cd examples && uvicorn fastapi_app:app            # the API
    asynq-py serve examples/typed_tasks.py:mux -q emails   # a worker, in another terminal

``ASYNQ_REDIS_URL`` says where Redis is (default redis://localhost:6379/0).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request

sys.path.insert(0, str(Path(__file__).resolve().parent))

from typed_tasks import send_welcome

from asynq_py.engine import AsyncClient, ValidationError


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the client when the app starts and close it when it stops."""
    async with AsyncClient(os.environ.get("ASYNQ_REDIS_URL", "redis://localhost:6379/0")) as client:
        app.state.asynq = client
        yield


app = FastAPI(lifespan=lifespan)


def asynq_client(request: Request) -> AsyncClient:
    """The app's client, for routes to depend on."""
    client: AsyncClient = request.app.state.asynq
    return client


@app.post("/users/{user_id}/welcome")
async def welcome(
    user_id: int, client: Annotated[AsyncClient, Depends(asynq_client)], subject: str = "Welcome"
) -> dict[str, str]:
    """Enqueue the welcome email of ``user_id``; answer with the task's id and queue."""
    try:
        info = await client.enqueue(send_welcome.task(user_id=user_id, subject=subject), retention=3600)
    except ValidationError as exc:  # a bad argument: nothing was stored
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"task_id": info.id, "queue": info.queue}
