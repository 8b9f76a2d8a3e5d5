"""docs/wire.md is the wire contract: its script reference matches the scripts, and every citation
of it names a section it has.

``python tests/test_wire_doc.py`` (``make wire-doc``) rewrites the script reference (§4.4) from the
KEYS/ARGV/Returns headers of ``engine/scripts/*.lua``, then of the shared snippets in ``lib/``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIRE_DOC = ROOT / "docs" / "wire.md"
SCRIPTS = ROOT / "engine" / "scripts"
BEGIN, END = "<!-- scripts:begin -->", "<!-- scripts:end -->"
CITATION = re.compile(r"wire\.md §(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^#{2,4} (\d+(?:\.\d+)*)\.? ", re.MULTILINE)


def script_header(path: Path) -> str:
    """The leading comment lines of a Lua script: its summary and KEYS/ARGV/Returns contract."""
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("--"):
            break
        lines.append(line)
    return "\n".join(lines)


def script_paths() -> list[Path]:
    """The scripts, sorted by name, then the snippets the loader prepends to some of them."""
    return [*sorted(SCRIPTS.glob("*.lua")), *sorted(SCRIPTS.glob("lib/*.lua"))]


def script_reference() -> str:
    """The generated body of §4.4: each script's (and snippet's) name and header."""
    return "\n\n".join(
        f"**`{path.relative_to(SCRIPTS)}`**\n\n```lua\n{script_header(path)}\n```" for path in script_paths()
    )


def with_reference(doc: str) -> str:
    """``doc`` with the block between the markers replaced by the current script reference."""
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{script_reference()}\n{END}{tail}"


def sections(doc: str) -> set[str]:
    """The section numbers of the document's headings ("4.1.7" for "#### 4.1.7. dequeue")."""
    return set(HEADING.findall(doc))


def test_script_reference_matches_the_scripts() -> None:
    doc = WIRE_DOC.read_text(encoding="utf-8")
    assert BEGIN in doc
    assert END in doc
    assert doc == with_reference(doc), "docs/wire.md §4.4 is stale: run `make wire-doc`"


def test_every_script_has_a_contract_header() -> None:
    assert (SCRIPTS / "lib" / "take_out.lua") in script_paths()
    for path in script_paths():
        header = script_header(path)
        cites = "docs/wire.md §" in header or "asynq-py" in header
        assert cites, f"{path.name}: cite the section it implements (or say it is asynq-py's own)"
        assert "-- Returns" in header, f"{path.name}: no Returns line"


def test_every_citation_names_a_section_of_the_document() -> None:
    known = sections(WIRE_DOC.read_text(encoding="utf-8"))
    assert {"2", "3.1", "4.1.22", "4.3.2", "5.8", "9"} <= known
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    cited: dict[str, set[str]] = {}
    for name in tracked:
        path = ROOT / name
        if not name or path.suffix not in {".py", ".lua", ".md", ".proto", ".go"} or not path.is_file():
            continue
        for number in CITATION.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(number, set()).add(name)
    assert len(cited) > 20
    unknown = {number: sorted(files) for number, files in cited.items() if number not in known}
    assert unknown == {}


def test_the_repository_cites_no_document_outside_it() -> None:
    # Spelled in two halves so that this file, too, holds neither phrase.
    patterns = ["-e", "shared" + "/spec", "-e", "wire" + " spec"]
    found = subprocess.run(
        ["git", "grep", "-n", "-i", *patterns, "--", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.stdout == ""


if __name__ == "__main__":
    WIRE_DOC.write_text(with_reference(WIRE_DOC.read_text(encoding="utf-8")), encoding="utf-8")
    sys.exit(0)
