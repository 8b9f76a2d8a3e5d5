"""The package's shape: public surface, import hygiene, no stray top-level modules."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import asynq_py.engine as engine

ROOT = Path(__file__).resolve().parents[1]


def test_engine_all_is_sorted_and_complete() -> None:
    assert engine.__all__ == sorted(engine.__all__)
    resolved = {n: getattr(engine, n) for n in engine.__all__}  # the names load on first use
    public = {n for n in vars(engine) if not n.startswith("_")}
    modules = {n for n, v in vars(engine).items() if type(v).__name__ == "module"}
    listed = {n for n in dir(engine) if not n.startswith("_")}
    assert set(engine.__all__) == public - modules == listed - modules
    assert all(value.__module__.startswith("asynq_py.engine.") for value in resolved.values())


def test_no_asynq_key_literal_outside_keys_module() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for folder in ("engine", "cli", "tui")
        for p in (ROOT / folder).rglob("*.py")
        if p.name != "keys.py" and "_pb" not in p.parts and re.search(r'"asynq:[^ "]', p.read_text())
    ]
    assert offenders == []


def test_headless_imports_do_not_load_textual() -> None:
    code = "import sys, asynq_py.engine, asynq_py.cli.main; assert 'textual' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_engine_and_cli_work_without_the_extras() -> None:
    # Blocked as if not installed (redis-py itself tries to import opentelemetry, and copes).
    code = (
        "import sys; sys.modules.update(prometheus_client=None, opentelemetry=None); "
        "import asynq_py.engine, asynq_py.cli.main; "
        "assert not [m for m in sys.modules if m.startswith(('asynq_py.engine.x.', 'prometheus_client.'))]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    code = "import sys, asynq_py.engine, asynq_py.cli.main; assert 'prometheus_client' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_base_install_does_not_pull_the_extras() -> None:
    from importlib.metadata import requires

    def name(req: str) -> str:
        return re.split(r"[ <>=!~;\[]", req, maxsplit=1)[0].lower()

    reqs = requires("asynq-py") or []
    base = {name(r) for r in reqs if "extra ==" not in r}
    extras = {name(r): r.split("extra ==")[1].strip(" '\"") for r in reqs if "extra ==" in r}
    assert not base & {"prometheus-client", "opentelemetry-api", "opentelemetry-sdk"}
    assert extras["prometheus-client"] == "metrics"
    assert (extras["opentelemetry-api"], extras["opentelemetry-sdk"]) == ("otel", "otel")


def test_source_folders_are_not_importable_as_top_level() -> None:
    code = "import importlib.util as u; assert all(u.find_spec(n) is None for n in ('engine', 'cli', 'tui'))"
    subprocess.run([sys.executable, "-P", "-c", code], check=True, timeout=60, cwd="/")


def test_wheel_ships_every_source_file(tmp_path: Path) -> None:
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("asynq_py-*.whl")
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("asynq_py/")}
    expected = {
        f"asynq_py/{p.relative_to(ROOT)}"
        for folder in ("engine", "cli", "tui")
        for p in (ROOT / folder).rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and p.suffix in (".py", ".lua", ".pyi", ".tcss", ".typed", ".proto")
    }
    assert expected - shipped == set()


def test_every_engine_module_is_in_a_layer_of_the_contract() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    listed = {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}
    modules = {p.stem for p in (ROOT / "engine").glob("*.py") if p.stem != "__init__"}
    packages = {p.parent.name for p in (ROOT / "engine").glob("*/__init__.py") if p.parent.name != "_pb"}
    assert listed == modules | packages


def test_lowest_constraints_pin_each_lower_bound_and_keep_markers() -> None:
    script = ROOT / ".ci" / "lowest_constraints.py"
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
    out = run.stdout.splitlines()
    assert all("==" in line for line in out)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (uvloop,) = project["optional-dependencies"]["uvloop"]
    requirement, _, marker = uvloop.partition(";")
    bound = requirement.partition(">=")[2].strip()
    assert f"uvloop=={bound}; {marker.strip()}" in out  # (a marker dropped would pin it on Windows too)
