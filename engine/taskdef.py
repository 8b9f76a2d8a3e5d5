"""``TaskDef``: a task type defined by a typed function, made by ``ServeMux.task``.

The function's parameters after the context are the task's arguments. ``TaskDef.task(...)`` checks
them (the type checker at the call site through ``ParamSpec``, msgspec at run time) and encodes them
as the JSON object a Go program would marshal from the same values; the worker decodes and checks the
payload again before it calls the function, and a payload that does not fit is archived at once.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, Unpack

import msgspec

from .errors import SkipRetry, ValidationError
from .gojson import go_json_dumps
from .options import validate_task_type
from .task import Task

if TYPE_CHECKING:
    from .context import TaskContext
    from .options import TaskOptions

__all__ = ["TaskDef"]

P = ParamSpec("P")
R = TypeVar("R")

_AT_PATH = re.compile(r"^(?P<what>.*) - at `\$\.(?P<name>[^.`\[]+)(?P<rest>[^`]*)`$")


def _args_struct(fn: Callable[..., Any], task_type: str) -> tuple[inspect.Signature, type[msgspec.Struct]]:
    """Return the signature of ``fn`` without its context, and a msgspec Struct of its arguments."""
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise ValidationError(f"task {task_type!r}: the function must take the task context first")
    args = params[1:]
    for p in args:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
            raise ValidationError(
                f"task {task_type!r}: argument {p.name!r} has no name in JSON; "
                "use plain or keyword-only arguments"
            )
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError) as exc:
        raise ValidationError(f"task {task_type!r}: cannot resolve the argument types: {exc}") from exc
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for p in args:
        hint = hints.get(p.name, Any)
        fields.append((p.name, hint) if p.default is p.empty else (p.name, hint, p.default))
    try:
        struct = msgspec.defstruct(
            f"{getattr(fn, '__name__', 'task')}_args", fields, kw_only=True, forbid_unknown_fields=True
        )
        msgspec.json.Decoder(struct)  # fails now, not at the first task, on a type msgspec cannot check
    except TypeError as exc:
        raise ValidationError(f"task {task_type!r}: {exc}") from exc
    resolved = [p.replace(annotation=hints[p.name]) if p.name in hints else p for p in args]
    return signature.replace(parameters=resolved, return_annotation=inspect.Signature.empty), struct


def _explain(task_type: str, exc: msgspec.ValidationError) -> str:
    """Turn msgspec's message into one that names the argument first."""
    text = str(exc)
    match = _AT_PATH.match(text)
    if match is None:
        return f"task {task_type!r}: {text}"
    where = f" (at {match['rest']})" if match["rest"] else ""
    return f"task {task_type!r}: argument {match['name']!r}: {match['what']}{where}"


def _plain(value: Any) -> Any:
    """Return ``value`` with dataclasses as dicts of every field.

    msgspec leaves out fields at a plain default when it encodes a dataclass that it built itself
    (their values live on the class), so a decoded ``{"city": "x"}`` would not come back canonical.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class TaskDef(Generic[P, R]):
    """A task type and the typed function that runs it; ``ServeMux.task`` makes these.

    Attributes:
        type: The task type.
        fn: The function, unchanged (call it directly in tests).
        options: The default enqueue options every task made by ``task`` carries.
    """

    def __init__(
        self,
        task_type: str,
        fn: Callable[Concatenate[TaskContext, P], R],
        **options: Unpack[TaskOptions],
    ) -> None:
        self.type = task_type
        self.fn = fn
        self.options = options
        self._signature, self._struct = _args_struct(fn, task_type)
        params = self._signature.parameters.values()
        self._names = frozenset(p.name for p in params)
        self._required = frozenset(p.name for p in params if p.default is p.empty)
        self._defaults = {p.name: p.default for p in params if p.default is not p.empty}
        self._hints = {p.name: p.annotation for p in params}
        self._decoder = msgspec.json.Decoder(self._struct)
        validate_task_type(task_type)  # the name and the options are checked now, not at the first enqueue
        Task(task_type, **options)

    @property
    def signature(self) -> str:
        """The arguments as Python writes them, e.g. ``(user_id: int, subject: str = '')``."""
        return str(self._signature)

    @property
    def is_async(self) -> bool:
        """True if the function is an ``async def`` (it then runs on the event loop)."""
        return inspect.iscoroutinefunction(self.fn)

    def task(self, *args: P.args, **kwargs: P.kwargs) -> Task:
        """Return a ``Task`` carrying these arguments, checked, as its JSON payload.

        Raises:
            ValidationError: an argument is missing, unknown, or of the wrong type; no I/O was done.
        """
        arguments: Mapping[str, Any] = kwargs
        if args or not (self._required <= kwargs.keys() <= self._names):
            # Positional, missing or unknown arguments: the general (slower) binding says which.
            try:
                arguments = self._signature.bind(*args, **kwargs).arguments
            except TypeError as exc:
                raise ValidationError(f"task {self.type!r}: {exc}") from exc
        return self.task_from_mapping(arguments)

    def task_from_mapping(self, arguments: Mapping[str, Any]) -> Task:
        """Return a ``Task`` for arguments given by name (as the CLI gives them), checked.

        Arguments left out take their defaults; a missing or unknown one is a ``ValidationError``.
        """
        try:
            values = msgspec.to_builtins({**self._defaults, **arguments})
        except TypeError as exc:
            raise ValidationError(f"task {self.type!r}: {exc}") from exc
        try:
            # Checked in the form the worker will decode, so what is stored is what will fit there;
            # stored from the checked values, so nested defaults are filled in and the JSON is canonical.
            checked = msgspec.convert(values, self._struct)
        except msgspec.ValidationError as exc:
            raise ValidationError(_explain(self.type, exc)) from exc
        plain = {name: _plain(value) for name, value in msgspec.structs.asdict(checked).items()}
        return Task(self.type, go_json_dumps(msgspec.to_builtins(plain)), **self.options)

    def decode(self, payload: bytes | None) -> dict[str, Any]:
        """Return the keyword arguments that ``payload`` holds (no payload means no arguments).

        Raises:
            ValidationError: the payload is not a JSON object that fits the arguments.
        """
        try:
            args = self._decoder.decode(payload or b"{}")
        except msgspec.ValidationError as exc:
            raise ValidationError(_explain(self.type, exc)) from exc
        except msgspec.DecodeError as exc:
            raise ValidationError(f"task {self.type!r}: payload is not JSON: {exc}") from exc
        return msgspec.structs.asdict(args)

    def argument_from_text(self, name: str, text: str) -> Any:
        """Return the value that ``text`` (as typed on a command line) means for argument ``name``.

        ``42`` for an int, ``red`` for an enum, an ISO time for a datetime, JSON for a list, a dict,
        a dataclass or ``null``; text that fits nothing is returned as it is, for ``task`` to refuse.

        Raises:
            ValidationError: the task has no argument ``name``.
        """
        if name not in self._hints:
            known = ", ".join(self._signature.parameters) or "none"
            raise ValidationError(f"task {self.type!r} has no argument {name!r} (arguments: {known})")
        hint = Any if self._hints[name] is inspect.Parameter.empty else self._hints[name]
        try:
            return msgspec.convert(text, hint, strict=False)
        except msgspec.ValidationError:
            pass
        try:
            return msgspec.json.decode(text)
        except msgspec.DecodeError:
            return text

    def handler(self) -> Callable[[TaskContext, Task], Any]:
        """Return the ``(ctx, task)`` handler that decodes the payload and calls the function.

        A payload that does not fit raises ``SkipRetry``: retrying cannot fix it, so it is archived.
        """
        fn: Callable[..., Any] = self.fn
        decode = self.decode

        def arguments(task: Task) -> dict[str, Any]:
            try:
                return decode(task.raw_payload)
            except ValidationError as exc:
                raise SkipRetry(f"invalid payload: {exc}") from exc

        if self.is_async:

            async def run_async(ctx: TaskContext, task: Task) -> Any:
                result: Awaitable[Any] = fn(ctx, **arguments(task))
                return await result

            return run_async

        def run(ctx: TaskContext, task: Task) -> Any:
            return fn(ctx, **arguments(task))

        return run

    def __repr__(self) -> str:
        return f"TaskDef({self.type!r}, {getattr(self.fn, '__qualname__', self.fn)}{self.signature})"
