"""The only code in the dashboard that calls the inspector (and the client).

``Fetcher`` answers a screen's ``Request`` in a Textual worker and posts the answer to that screen
as a message; it performs ``Action``s the same way and reports to the app. Fetches run in one
exclusive worker group, so a newer view cancels an older fetch; actions run apart and are never
cancelled. Nothing here touches a widget.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol, Unpack

from asynq_py.engine import (
    AsynqError,
    DecodeError,
    QueueNotFoundError,
    RedisUnavailableError,
    Task,
    TaskInfo,
    TaskNotFoundError,
    TaskState,
)

from .actions import Action, ActionKind, LimitChange
from .messages import (
    ActionDone,
    FetchFailed,
    FetchSucceeded,
    HistoryFetched,
    HistoryRequest,
    QueueFetched,
    QueueRequest,
    QueuesFetched,
    QueuesRequest,
    SchedulesFetched,
    SchedulesRequest,
    ServersFetched,
    ServersRequest,
    TaskFetched,
    TaskRequest,
)

if TYPE_CHECKING:
    from textual.app import App
    from textual.message import Message
    from textual.message_pump import MessagePump
    from textual.worker import Worker

    from asynq_py.engine import (
        DailyStats,
        GroupInfo,
        LimitsInfo,
        Options,
        QueueInfo,
        QueueLimits,
        Rate,
        SchedulerEnqueueEvent,
        SchedulerEntryInfo,
        ServerInfo,
    )

    from .messages import Request

__all__ = ["FILTER_SCAN_LIMIT", "ClientLike", "Fetcher", "InspectorLike"]

FILTER_SCAN_LIMIT = 20_000
"""A filter searches at most this many tasks of a state, so typing stays cheap on huge queues."""

_SCAN_PAGE = 500
"""Tasks read per round trip while filtering."""

_QUEUE_CONCURRENCY = 16
"""Queues whose summaries are read at once on the queues screen."""

_FILTER_DEBOUNCE_S = 0.15
"""Pause before a filtered search, so each keystroke does not start a full scan."""


class InspectorLike(Protocol):
    """The part of ``AsyncInspector`` the dashboard uses (tests pass a stub)."""

    async def queues(self) -> list[str]: ...
    async def groups(self, queue: str) -> list[GroupInfo]: ...
    async def get_queue_info(self, queue: str) -> QueueInfo: ...
    async def get_queue_limits(self, queue: str) -> LimitsInfo: ...
    async def history(self, queue: str, days: int = 7) -> list[DailyStats]: ...
    async def get_task_info(self, queue: str, task_id: str) -> TaskInfo: ...
    async def list_tasks(
        self,
        queue: str,
        state: TaskState | str,
        *,
        group: str | None = None,
        page: int = 1,
        page_size: int = 30,
    ) -> list[TaskInfo]: ...
    async def run_task(self, queue: str, task_id: str) -> None: ...
    async def archive_task(self, queue: str, task_id: str) -> None: ...
    async def delete_task(self, queue: str, task_id: str) -> None: ...
    async def run_all_tasks(self, queue: str, state: TaskState | str, *, group: str | None = None) -> int: ...
    async def archive_all_tasks(
        self, queue: str, state: TaskState | str, *, group: str | None = None
    ) -> int: ...
    async def delete_all_tasks(
        self, queue: str, state: TaskState | str, *, group: str | None = None
    ) -> int: ...
    async def pause_queue(self, queue: str) -> None: ...
    async def set_queue_limits(
        self,
        queue: str,
        *,
        task_type: str | None = None,
        concurrency: int | None = None,
        rate: Rate | str | None = None,
        burst: int | None = None,
    ) -> QueueLimits: ...
    async def remove_queue_limits(self, queue: str, *, task_type: str | None = None) -> None: ...
    async def unpause_queue(self, queue: str) -> bool: ...
    async def cancel_processing(self, task_id: str) -> None: ...
    async def servers(self) -> list[ServerInfo]: ...
    async def scheduler_entries(self) -> list[SchedulerEntryInfo]: ...
    async def list_scheduler_enqueue_events(
        self, entry_id: str, *, page: int = 1, page_size: int = 30
    ) -> list[SchedulerEnqueueEvent]: ...


class ClientLike(Protocol):
    """The part of ``AsyncClient`` the dashboard uses."""

    async def enqueue(self, task: Task, **options: Unpack[Options]) -> TaskInfo: ...


def _count(info: QueueInfo, state: TaskState) -> int:
    counts = {
        TaskState.ACTIVE: info.active,
        TaskState.PENDING: info.pending,
        TaskState.AGGREGATING: info.aggregating,
        TaskState.SCHEDULED: info.scheduled,
        TaskState.RETRY: info.retry,
        TaskState.ARCHIVED: info.archived,
        TaskState.COMPLETED: info.completed,
    }
    return counts[state]


def _matches(task: TaskInfo, needle: str) -> bool:
    return needle in task.id.casefold() or needle in task.type.casefold()


class Fetcher:
    """Runs inspector calls in workers of ``app`` and posts what they return.

    Args:
        app: The app whose workers run the calls and which receives status messages.
        inspector: The inspector (an ``AsyncInspector`` or a stub).
        client: The client used to enqueue copies of tasks, if any.
    """

    def __init__(self, app: App[Any], inspector: InspectorLike, client: ClientLike | None = None) -> None:
        self._app = app
        self._inspector = inspector
        self._client = client
        self._worker: Worker[None] | None = None

    @property
    def busy(self) -> bool:
        """Whether a fetch is still running."""
        return self._worker is not None and self._worker.is_running

    def load(self, target: MessagePump, request: Request) -> None:
        """Fetch what ``request`` asks for and post the answer to ``target``, cancelling older fetches."""

        # A function, not a coroutine: a worker cancelled before it starts then leaves no coroutine
        # that was never awaited.
        async def work() -> None:
            await self._load(target, request)

        self._worker = self._app.run_worker(work, group="fetch", exclusive=True, name=type(request).__name__)

    async def _load(self, target: MessagePump, request: Request) -> None:
        try:
            answer = await self._answer(request)
        except AsynqError as exc:
            self._app.post_message(FetchFailed(str(exc), isinstance(exc, RedisUnavailableError)))
            return
        self._app.post_message(FetchSucceeded())
        target.post_message(answer)

    async def _answer(self, request: Request) -> Message:
        match request:
            case QueuesRequest():
                return QueuesFetched(request, await self._queues())
            case QueueRequest():
                return await self._queue(request)
            case TaskRequest():
                try:
                    task = await self._inspector.get_task_info(request.queue, request.task_id)
                except (QueueNotFoundError, TaskNotFoundError):
                    return TaskFetched(request, None)
                return TaskFetched(request, task)
            case ServersRequest():
                return ServersFetched(request, await self._inspector.servers())
            case HistoryRequest():
                try:
                    stats = await self._inspector.history(request.queue, request.days)
                except QueueNotFoundError:
                    return HistoryFetched(request, None)
                return HistoryFetched(request, stats)
            case SchedulesRequest():
                return await self._schedules(request)
        raise AssertionError(f"unknown request {request!r}")  # pragma: no cover

    async def _queues(self) -> list[QueueInfo]:
        names = await self._inspector.queues()
        gate = asyncio.Semaphore(_QUEUE_CONCURRENCY)

        async def one(name: str) -> QueueInfo | None:
            async with gate:
                try:
                    return await self._inspector.get_queue_info(name)
                except QueueNotFoundError:
                    return None  # removed between the two reads

        infos = await asyncio.gather(*(one(n) for n in names))
        return [info for info in infos if info is not None]

    async def _queue(self, request: QueueRequest) -> QueueFetched:
        answer = await self._queue_page(request)
        if answer.info is not None:
            try:
                answer.limits = await self._inspector.get_queue_limits(request.queue)
            except QueueNotFoundError:
                pass  # removed since its page was read: the next refresh says so
            except DecodeError as exc:
                answer.limits_error = str(exc)
        return answer

    async def _queue_page(self, request: QueueRequest) -> QueueFetched:
        try:
            if request.state is TaskState.AGGREGATING:
                info, groups = await asyncio.gather(
                    self._inspector.get_queue_info(request.queue), self._inspector.groups(request.queue)
                )
                if request.group is None:
                    return self._group_page(request, info, groups)
                total = next((g.size for g in groups if g.group == request.group), 0)
            else:
                info = await self._inspector.get_queue_info(request.queue)
                total = _count(info, request.state)
            if request.filter.strip():
                return await self._search(request, info)
            tasks = await self._inspector.list_tasks(
                request.queue,
                request.state,
                group=request.group,
                page=request.page,
                page_size=request.page_size,
            )
        except QueueNotFoundError:
            return QueueFetched(request, None)
        return QueueFetched(request, info, tasks=tasks, total=total)

    @staticmethod
    def _group_page(request: QueueRequest, info: QueueInfo, groups: list[GroupInfo]) -> QueueFetched:
        needle = request.filter.strip().casefold()
        if needle:
            groups = [g for g in groups if needle in g.group.casefold()]
        start = (request.page - 1) * request.page_size
        page = groups[start : start + request.page_size]
        return QueueFetched(request, info, groups=page, total=len(groups))

    async def _search(self, request: QueueRequest, info: QueueInfo) -> QueueFetched:
        """Find tasks whose id or type contains the filter, reading the state page by page."""
        await asyncio.sleep(_FILTER_DEBOUNCE_S)
        text = request.filter.strip()
        needle = text.casefold()
        found: list[TaskInfo] = []
        seen: set[str] = set()
        try:
            exact = await self._inspector.get_task_info(request.queue, text)
        except TaskNotFoundError:
            pass
        else:
            # An exact id is found whatever its position, even beyond the scan limit.
            if exact.state is request.state and (request.group is None or exact.group == request.group):
                found.append(exact)
                seen.add(exact.id)
        scanned, page, truncated = 0, 1, False
        while True:
            if scanned >= FILTER_SCAN_LIMIT:
                truncated = True
                break
            batch = await self._inspector.list_tasks(
                request.queue, request.state, group=request.group, page=page, page_size=_SCAN_PAGE
            )
            scanned += len(batch)
            for task in batch:
                if task.id not in seen and _matches(task, needle):
                    found.append(task)
                    seen.add(task.id)
            if len(batch) < _SCAN_PAGE:
                break
            page += 1
        start = (request.page - 1) * request.page_size
        return QueueFetched(
            request,
            info,
            tasks=found[start : start + request.page_size],
            total=len(found),
            scanned=scanned,
            truncated=truncated,
        )

    async def _schedules(self, request: SchedulesRequest) -> SchedulesFetched:
        entries = await self._inspector.scheduler_entries()
        ids = [e.id for e in entries]
        entry_id = request.entry_id if request.entry_id in ids else (ids[0] if ids else None)
        events: list[SchedulerEnqueueEvent] = []
        if entry_id is not None:
            events = await self._inspector.list_scheduler_enqueue_events(
                entry_id, page=1, page_size=request.events
            )
        return SchedulesFetched(request, entries, entry_id, events)

    def act(self, action: Action) -> Worker[None]:
        """Perform ``action`` in a worker that posts ``ActionDone`` to the app; return the worker."""

        async def work() -> None:
            await self._act(action)

        return self._app.run_worker(work, group="action", name=action.kind.value)

    async def _act(self, action: Action) -> None:
        try:
            changed, errors = await self._perform(action)
        except AsynqError as exc:
            self._app.post_message(ActionDone(action, 0, (str(exc),)))
            if isinstance(exc, RedisUnavailableError):
                self._app.post_message(FetchFailed(str(exc), True))
            return
        self._app.post_message(ActionDone(action, changed, errors))

    async def _perform(self, action: Action) -> tuple[int, tuple[str, ...]]:
        insp = self._inspector
        q = action.queue
        if action.kind is ActionKind.PAUSE:
            await insp.pause_queue(q)
            return 1, ()
        if action.kind is ActionKind.UNPAUSE:
            await insp.unpause_queue(q)
            return 1, ()
        if action.kind is ActionKind.ENQUEUE_COPY:
            return await self._enqueue_copy(action)
        if action.limits is not None:
            return await self._limits(action, action.limits)
        if action.whole_state:
            assert action.state is not None
            bulk = {
                ActionKind.RUN: insp.run_all_tasks,
                ActionKind.ARCHIVE: insp.archive_all_tasks,
                ActionKind.DELETE: insp.delete_all_tasks,
            }[action.kind]
            return await bulk(q, action.state, group=action.group), ()
        return await self._each_task(action)

    async def _each_task(self, action: Action) -> tuple[int, tuple[str, ...]]:
        insp = self._inspector
        q = action.queue
        changed = 0
        errors: list[str] = []
        for task_id in action.task_ids:
            try:
                if action.kind is ActionKind.CANCEL:
                    await insp.cancel_processing(task_id)
                elif action.kind is ActionKind.RUN:
                    await insp.run_task(q, task_id)
                elif action.kind is ActionKind.ARCHIVE:
                    await insp.archive_task(q, task_id)
                else:
                    await insp.delete_task(q, task_id)
            except RedisUnavailableError:
                raise
            except AsynqError as exc:
                errors.append(f"{task_id}: {exc}")
            else:
                changed += 1
        return changed, tuple(errors)

    async def _limits(self, action: Action, change: LimitChange) -> tuple[int, tuple[str, ...]]:
        if action.kind is ActionKind.REMOVE_LIMITS:
            await self._inspector.remove_queue_limits(action.queue, task_type=change.task_type)
        else:
            await self._inspector.set_queue_limits(
                action.queue,
                task_type=change.task_type,
                concurrency=change.concurrency,
                rate=change.rate,
                burst=change.burst,
            )
        return 1, ()

    async def _enqueue_copy(self, action: Action) -> tuple[int, tuple[str, ...]]:
        if self._client is None or action.task is None:
            return 0, ("enqueueing needs a client",)
        src = action.task
        task = Task(src.type, bytes(src.payload), headers=src.headers)
        options: Options = {"queue": src.queue, "max_retry": src.max_retry}
        if src.timeout is not None:
            options["timeout"] = src.timeout
        if src.retention is not None:
            options["retention"] = src.retention
        if src.group:
            options["group"] = src.group
        await self._client.enqueue(task, **options)
        return 1, ()
