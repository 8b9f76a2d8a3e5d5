"""``asynq-py tasks`` and ``enqueue --arg``: typed tasks checked against the app's definitions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.real

APP = f"{Path(__file__).with_name('typed_app.py')}:mux"


def only_task(inspector, queue):
    (task,) = inspector.list_tasks(queue, "pending")
    return task


def test_tasks_lists_types_signatures_and_default_options(cli):
    records = [json.loads(line) for line in cli("--json", "tasks", "--app", APP).check().stdout.splitlines()]
    assert records == [
        {
            "type": "email:deliver",
            "signature": "(user_id: int, subject: str = '')",
            "async": True,
            "options": {"queue": "critical", "max_retry": 5, "timeout": 90},
        },
        {
            "type": "order:ship",
            "signature": "(to: typed_app.Address, when: datetime.datetime, "
            "color: typed_app.Color = <Color.RED: 'red'>, tags: list[str] | None = None)",
            "async": False,
            "options": {},
        },
    ]
    table = cli("tasks", "--app", APP).check().stdout
    assert "email:deliver" in table
    assert "queue=critical max_retry=5 timeout=90" in table
    assert "async" in table


def test_tasks_needs_an_app_and_takes_it_from_the_environment(cli, monkeypatch):
    run = cli("tasks").check(2)
    assert run.error == "error: no app: give --app (module:attribute or file.py:attribute) or set ASYNQ_APP"
    monkeypatch.setenv("ASYNQ_APP", APP)
    assert "order:ship" in cli("tasks").check().stdout


def test_enqueue_args_are_checked_and_stored_as_canonical_json(cli, inspector):
    run = cli("enqueue", "email:deliver", "--app", APP, "--arg", "user_id=42", "-a", "subject=hi <3").check()
    info = only_task(inspector, "critical")  # the definition's default options apply
    assert info.id == run.stdout.strip()
    assert bytes(info.payload) == b'{"subject":"hi \\u003c3","user_id":42}'
    assert (info.max_retry, info.timeout.total_seconds()) == (5, 90)


def test_enqueue_rich_args_from_text(cli, inspector, monkeypatch):
    monkeypatch.setenv("ASYNQ_APP", APP)
    cli(
        "enqueue", "order:ship", "-q", "ship",
        "--arg", 'to={"city": "Oslo"}', "--arg", "when=2026-12-03T10:00:00Z",
        "--arg", "color=blue", "--arg", 'tags=["a"]',
    ).check()  # fmt: skip
    assert bytes(only_task(inspector, "ship").payload) == (
        b'{"color":"blue","tags":["a"],"to":{"city":"Oslo","zip_code":0},"when":"2026-12-03T10:00:00Z"}'
    )


def test_enqueue_payload_is_checked_and_made_canonical(cli, inspector):
    cli("enqueue", "email:deliver", "--app", APP, "--payload", '{"user_id": 7}', "-q", "q7").check()
    assert bytes(only_task(inspector, "q7").payload) == b'{"subject":"","user_id":7}'


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--arg", "user_id=abc"],
            "error: task 'email:deliver': argument 'user_id': Expected `int`, got `str`",
        ),
        (
            ["--arg", "usr=1"],
            "error: task 'email:deliver' has no argument 'usr' (arguments: user_id, subject)",
        ),
        (["--arg", "subject=x"], "error: task 'email:deliver': Object missing required field `user_id`"),
        (["--arg", "user_id"], "error: --arg must look like NAME=VALUE, got 'user_id'"),
        (
            ["--payload", '{"user_id": "1"}'],
            "error: task 'email:deliver': argument 'user_id': Expected `int`",
        ),
        (
            ["--payload", '{"user_id": 1, "x": 2}'],
            "error: task 'email:deliver': Object contains unknown field `x`",
        ),
        (["--payload", '{"user_id": 1}', "--arg", "subject=s"], "error: give --arg or --payload, not both"),
        (
            ["--raw", "--payload", "x", "--arg", "user_id=1"],
            "error: --raw stores a payload as it is; drop --arg",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2_with_nothing_stored(cli, inspector, args, message):
    run = cli("enqueue", "email:deliver", "--app", APP, *args).check(2)
    assert run.error.startswith(message), run.error
    assert inspector.queues() == []


def test_arg_without_a_typed_definition_is_refused(cli, inspector):
    assert cli("enqueue", "plain", "--arg", "a=1").check(2).error == (
        "error: --arg needs a typed task 'plain', and there is no app (give --app or set ASYNQ_APP)"
    )
    assert "there is the app" in cli("enqueue", "plain", "--app", APP, "--arg", "a=1").check(2).error


def test_untyped_types_are_stored_as_plain_json_when_the_app_is_known(cli, inspector):
    cli("enqueue", "plain", "--app", APP, "--payload", '{"any": "thing"}').check()
    assert bytes(only_task(inspector, "default").payload) == b'{"any":"thing"}'


def test_the_validation_library_loads_only_with_typed_tasks():
    code = (
        "import sys, asynq_py.cli.main\n"
        "from asynq_py.engine import Client, ServeMux, Task\n"
        "ServeMux().handle_func('t', lambda ctx, task: None)\n"
        "assert 'msgspec' not in sys.modules, 'loaded at CLI or engine import'\n"
        "ServeMux().task('t')(lambda ctx: None)\n"
        "assert 'msgspec' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
