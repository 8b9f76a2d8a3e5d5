"""``asynq-py enqueue``: store one task, or many from NDJSON with ``--batch``.

A batch is read and checked in full before the first task is stored, so a malformed line stores
nothing. Each line is a JSON object::

    {"type": "email:send", "payload": {"to": "a@example.com"}, "queue": "mail", "in": "5m"}

Keys: ``type`` (required); ``payload`` (any JSON value, stored as its JSON text; with
``"payload_encoding": "utf-8"`` a string stored as it is, with ``"base64"`` base64-decoded bytes);
``queue``, ``id``, ``group``; ``max_retry``; ``in``, ``timeout``, ``unique``, ``retention`` (durations
such as ``"90s"``, or numbers of seconds); ``at``, ``deadline`` (times); ``headers`` (object of strings).
Options given on the command line apply to every line that does not set them.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from asynq_py.engine import AsynqError, BrokerError, Task, ValidationError

from .context import JsonFlag, get_state, stdin_is_terminal
from .errors import CliError, ExitCode, classify, error_line, warn
from .parse import duration_option, parse_duration, parse_header, parse_time, read_payload, time_option
from .render import emit, emit_json, progress
from .schema import task_record
from .tasks import AppOption, typed_task

__all__ = ["app"]

app = typer.Typer()

_DURATION_KEYS = {"in": "process_in", "timeout": "timeout", "unique": "unique", "retention": "retention"}
_TIME_KEYS = {"at": "process_at", "deadline": "deadline"}
_NAME_KEYS = {"queue": "queue", "id": "task_id", "group": "group"}
_BATCH_KEYS = frozenset(
    {"type", "payload", "payload_encoding", "max_retry", "headers", *_DURATION_KEYS, *_TIME_KEYS, *_NAME_KEYS}
)


@app.command(rich_help_panel="Tasks")
def enqueue(
    ctx: typer.Context,
    task_type: Annotated[
        str | None, typer.Argument(metavar="TYPE", help="Task type, e.g. email:send.", show_default=False)
    ] = None,
    payload: Annotated[
        str | None,
        typer.Option(
            "--payload",
            "-p",
            metavar="JSON|@FILE|-",
            help="Payload: JSON text, @FILE to read a file, or - for stdin (at most 32 MiB). JSON is stored "
            "compact with sorted keys, as Task(type, dict) stores it, so unique locks match the library's.",
        ),
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Store the payload bytes as typed, JSON or not.")
    ] = False,
    queue: Annotated[
        str | None, typer.Option("--queue", "-q", metavar="QUEUE", help="Queue (default: default).")
    ] = None,
    process_in: Annotated[
        timedelta | None,
        typer.Option(
            "--in", parser=duration_option, metavar="DURATION", help="Run after this delay: 90s, 5m, 2d."
        ),
    ] = None,
    process_at: Annotated[
        datetime | None,
        typer.Option(
            "--at", parser=time_option, metavar="TIME", help="Run at this time: ISO 8601 with a zone, or +2h."
        ),
    ] = None,
    max_retry: Annotated[
        int | None, typer.Option("--max-retry", min=0, metavar="N", help="Retries allowed (default 25).")
    ] = None,
    timeout: Annotated[
        timedelta | None,
        typer.Option(parser=duration_option, metavar="DURATION", help="Time allowed per run (default 30m)."),
    ] = None,
    deadline: Annotated[
        datetime | None,
        typer.Option(parser=time_option, metavar="TIME", help="Time by which the task must finish."),
    ] = None,
    unique: Annotated[
        timedelta | None,
        typer.Option(
            parser=duration_option,
            metavar="TTL",
            help="Refuse duplicates (same type, payload, queue) for TTL.",
        ),
    ] = None,
    task_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="Task id (default: a random UUID).")
    ] = None,
    retention: Annotated[
        timedelta | None,
        typer.Option(
            parser=duration_option, metavar="DURATION", help="Keep the task this long once completed."
        ),
    ] = None,
    group: Annotated[str | None, typer.Option("--group", metavar="GROUP", help="Aggregation group.")] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", "-H", metavar="KEY=VALUE", help="A header (repeatable).")
    ] = None,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch", metavar="FILE|-", help="Read tasks as NDJSON, one per line, from FILE or stdin."
        ),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", min=1, max=100_000, metavar="N", help="Tasks stored per round trip with --batch."
        ),
    ] = 1000,
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg",
            "-a",
            metavar="NAME=VALUE",
            help="An argument of a typed task (repeatable), checked against the app's definition.",
        ),
    ] = None,
    app_: AppOption = None,
    json_: JsonFlag = False,
) -> None:
    """Enqueue a task and print its id (its full record with --json).

    When the app is known (--app, ASYNQ_APP or the config file) and defines TYPE as a typed task
    (ServeMux.task), the arguments (--arg NAME=VALUE) or the --payload JSON are checked against its
    definition and stored as its canonical JSON, with its default options.

    With --batch, read one task per line (NDJSON) and store them in pipelined batches; the ids of the
    stored tasks are printed in input order, and each failed line is reported on stderr. Options given
    on the command line are defaults for every line. See docs/cli.md for the line format.
    """
    state = get_state(ctx)
    if process_in is not None and process_at is not None:
        raise CliError("give --in or --at, not both")
    options: dict[str, Any] = {
        "queue": queue,
        "process_in": process_in,
        "process_at": process_at,
        "max_retry": max_retry,
        "timeout": timeout,
        "deadline": deadline,
        "unique": unique,
        "task_id": task_id,
        "retention": retention,
        "group": group,
    }
    if deadline is not None and deadline <= datetime.now(UTC):
        warn(f"--deadline {deadline.isoformat()} has passed: the task will fail with a deadline error")
    headers = _headers(header or [])
    as_json = state.use_json(json_)
    if batch is not None:
        if task_type is not None or payload is not None or raw or task_id is not None or arg:
            raise CliError(
                "--batch reads types, payloads and ids from its input; "
                "drop TYPE, --payload, --raw, --arg and --id"
            )
        _enqueue_batch(ctx, batch, options, headers, batch_size, as_json)
        return
    if task_type is None:
        raise CliError("give a task TYPE, or --batch FILE to read tasks from a file")
    if raw and arg:
        raise CliError("--raw stores a payload as it is; drop --arg")
    data = None if payload is None else _read_payload(payload, raw)
    task = None if raw else typed_task(state, app_, task_type, arg or [], data)
    if task is None:
        task = Task(task_type, data, headers=headers)
    elif headers:
        options["headers"] = headers
    with state.client() as client:
        info = client.enqueue(task, **options)
    if as_json:
        emit_json(task_record(info))
    else:
        emit(info.id)
    state.note(f"enqueued task {info.id} to queue {info.queue} ({info.state})")


def _headers(items: list[str]) -> dict[str, str]:
    try:
        return dict(parse_header(item) for item in items)
    except ValueError as exc:
        raise CliError(f"--header: {exc}") from None


def _read_payload(payload: str, raw: bool) -> bytes:
    try:
        return read_payload(payload, raw=raw, stdin=sys.stdin.buffer)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _open_batch(source: str) -> IO[str]:
    if source == "-":
        return sys.stdin
    try:
        return Path(source).open(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read batch file {source!r}: {exc.strerror or exc}") from None


_BAD_LINES_SHOWN = 20
"""Bad batch lines reported one by one; the rest are counted."""


def _read_batch(source: str, defaults: dict[str, Any], headers: dict[str, str]) -> list[tuple[int, Task]]:
    """Return (line number, task) for every non-blank line.

    Every bad line is reported (the first ``_BAD_LINES_SHOWN`` with their numbers, the rest counted),
    and then ``CliError`` is raised: a batch with a bad line stores nothing.
    """
    handle = _open_batch(source)
    tasks: list[tuple[int, Task]] = []
    bad = 0
    try:
        for lineno, line in enumerate(handle, 1):
            if line.strip():
                try:
                    tasks.append((lineno, _task_from_line(line, defaults, headers)))
                except (ValueError, ValidationError) as exc:
                    bad += 1
                    if bad <= _BAD_LINES_SHOWN:
                        error_line(f"line {lineno}: {exc}")
    except UnicodeDecodeError as exc:
        raise CliError(f"batch input is not UTF-8 text (byte {exc.start})") from None
    finally:
        if handle is not sys.stdin:
            handle.close()
    if bad:
        more = f" ({bad - _BAD_LINES_SHOWN} not shown)" if bad > _BAD_LINES_SHOWN else ""
        raise CliError(f"{bad} bad line{'s' if bad > 1 else ''} in the batch{more}; nothing was stored")
    return tasks


def _task_from_line(line: str, defaults: dict[str, Any], headers: dict[str, str]) -> Task:
    obj = _line_object(line)
    task_type = obj.get("type")
    if not isinstance(task_type, str) or not task_type.strip() or not task_type.isprintable():
        raise ValueError("'type' must be a non-blank string of printable characters")
    line_headers = obj.get("headers", {})
    if not isinstance(line_headers, dict) or not all(isinstance(v, str) for v in line_headers.values()):
        raise ValueError("'headers' must be an object of strings")
    options = _line_options(obj, defaults)
    return Task(task_type, _payload(obj), headers={**headers, **line_headers}, **options)


def _line_object(line: str) -> dict[str, Any]:
    """One batch line as a JSON object with only known keys."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object with at least a 'type'")
    unknown = sorted(set(obj) - _BATCH_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_BATCH_KEYS))})")
    return obj


def _line_options(obj: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The command line's enqueue options, overridden by the line's own."""
    options = dict(defaults)
    if "in" in obj or "at" in obj:
        options = _without_schedule(options, both="in" in obj and "at" in obj)
    now = datetime.now(UTC)
    for key, name in _DURATION_KEYS.items():
        if key in obj:
            options[name] = _duration(key, obj[key])
    for key, name in _TIME_KEYS.items():
        if key in obj:
            options[name] = parse_time(_string(key, obj[key], "a time string"), now)
    for key, name in _NAME_KEYS.items():
        if key in obj:
            options[name] = _string(key, obj[key], "a string")
    if "max_retry" in obj:
        value = obj["max_retry"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("'max_retry' must be a whole number, 0 or more")
        options["max_retry"] = value
    return options


def _without_schedule(options: dict[str, Any], *, both: bool) -> dict[str, Any]:
    """A line's own schedule replaces the command line's, whichever form each uses."""
    if both:
        raise ValueError("give 'in' or 'at', not both")
    return {k: v for k, v in options.items() if k not in ("process_in", "process_at")}


def _string(key: str, value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be {what}")
    return value


def _duration(key: str, value: object) -> timedelta:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"'{key}' must not be negative")
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be a duration such as \"90s\" or a number of seconds")
    return parse_duration(value)


def _payload(obj: dict[str, Any]) -> bytes | dict[str, Any] | list[Any] | None:
    encoding = obj.get("payload_encoding")
    value = obj.get("payload")
    if encoding is None:
        if value is None or isinstance(value, dict | list):
            return value
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    if not isinstance(value, str):
        raise ValueError("with 'payload_encoding', 'payload' must be a string")
    if encoding == "utf-8":
        return value.encode("utf-8", "surrogatepass")
    if encoding == "base64":
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValueError("'payload' is not valid base64") from None
    raise ValueError("'payload_encoding' must be 'utf-8' or 'base64'")


def _enqueue_batch(
    ctx: typer.Context,
    source: str,
    defaults: dict[str, Any],
    headers: dict[str, str],
    batch_size: int,
    as_json: bool,
) -> None:
    state = get_state(ctx)
    if source == "-" and stdin_is_terminal():
        state.note("reading NDJSON from stdin (Ctrl-D to end)")
    tasks = _read_batch(source, {k: v for k, v in defaults.items() if v is not None}, headers)
    if not tasks:
        state.note("no tasks in the input")
        return
    stored = 0
    first_failure: ExitCode | None = None
    with state.client() as client, progress(state.err, "enqueueing", len(tasks)) as advance:
        for start in range(0, len(tasks), batch_size):
            chunk = tasks[start : start + batch_size]
            try:
                results = client.enqueue_many([task for _, task in chunk])
            except (BrokerError, ValidationError):
                state.note(f"{stored} of {len(tasks)} tasks were stored before the error below")
                raise
            for (lineno, _), result in zip(chunk, results, strict=True):
                if isinstance(result, AsynqError):
                    code, message = classify(result)
                    error_line(f"line {lineno}: {message}")
                    first_failure = first_failure or code
                    continue
                stored += 1
                if as_json:
                    emit_json(task_record(result))
                else:
                    emit(result.id)
            sys.stdout.flush()
            advance(len(chunk))
    failed = len(tasks) - stored
    state.note(f"enqueued {stored} of {len(tasks)} tasks" + (f"; {failed} failed" if failed else ""))
    if first_failure is not None:
        raise typer.Exit(int(first_failure))
