"""Print pip constraints that pin every direct dependency to the lowest version pyproject.toml declares.

Used by ``make lowest``: installing with these constraints and running the fast tests keeps the
declared lower bounds true. Covers ``[project] dependencies`` and the optional extras the package
ships (not the test tools, which may be any version that works).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(.*)$")


def lowest(requirement: str) -> str:
    """``"redis[hiredis]>=5.2"`` -> ``"redis==5.2"``, keeping an environment marker
    (``"uvloop>=0.19; sys_platform != 'win32'"`` -> ``"uvloop==0.19; sys_platform != 'win32'"``);
    every requirement must have a lower bound."""
    text, _, marker = requirement.partition(";")
    match = REQUIREMENT.match(text)
    if match is None:
        raise SystemExit(f"cannot read requirement {requirement!r}")
    name, spec = match.groups()
    bound = re.search(r">=\s*([^,\s]+)", spec)
    if bound is None:
        raise SystemExit(f"{name} declares no lower bound (>=): {requirement!r}")
    pinned = f"{name}=={bound.group(1)}"
    return f"{pinned}; {marker.strip()}" if marker.strip() else pinned


def main() -> int:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra, items in project.get("optional-dependencies", {}).items():
        if extra != "test":
            requirements += items
    print("\n".join(lowest(r) for r in requirements))
    return 0


if __name__ == "__main__":
    sys.exit(main())
