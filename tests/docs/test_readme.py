"""The documents' command blocks run as written, in order, on a fresh `scripts/up`; links hold.

The operator's part of the documents — README's "Quick start" (its `scripts/up`) and "Using it",
then docs/OPERATING.md, docs/MESSAGES.md, the key of docs/SECURITY.md, docs/EVENTS.md and
docs/WEBHOOKS.md (its receiver on port 8900) and docs/BULK.md — is run
exactly as printed: each ```bash block in one `bash -e`, with the virtual environment on PATH (as
"Using it" asks) and `TEMPORAL_ADDRESS` pointing at the stack this test started with `scripts/up`
on free ports and a fresh data directory. The CSV example is checked by `contracts import
--check`. Every other ```bash block of README.md, docs/, bench/README.md and examples/README.md is
listed in `NOT_RUN` with what checks it instead (Docker, a Cloud account, many minutes or the test
suite itself), so a block is either run here or says why not.

Every relative link of those documents points at a file that exists and, with `#…`, at one of its
headings. README stays a ten-minute read (at most 250 lines) that links every document in docs/
and bench/README.md, and names `scripts/test` as the command CI runs.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import free_ports, running_stack

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BENCH_README = ROOT / "bench" / "README.md"
README_MAX_LINES = 250

Unit = tuple[str, str | None]
"""A document (path from the root) and one of its top-level (`## `) sections; None: all of it."""

RUN: tuple[Unit, ...] = (
    ("README.md", "Quick start"),
    ("README.md", "Using it"),
    ("docs/OPERATING.md", None),
    ("docs/MESSAGES.md", None),
    ("docs/SECURITY.md", "Payload encryption"),
    ("docs/EVENTS.md", None),
    ("docs/WEBHOOKS.md", None),
    ("docs/BULK.md", None),
)
"""Whose blocks an operator runs against the embedded stack, in this order."""

NOT_RUN: dict[Unit, str] = {
    ("docs/TESTING.md", "Running a subset"): "runs the test suite itself",
    ("docs/RELIABILITY.md", "Running them"): "runs tests of the suite, minutes each",
    ("docs/PRODUCTION.md", None): "needs Docker or a Temporal Cloud account; tests/deploy/",
    ("bench/README.md", None): "runs for many minutes; tests/bench/ runs it at a tiny size",
    ("examples/README.md", None): "tests/simulator/test_examples.py runs `simulate`",
}
"""The other documents' bash blocks, each with why this test does not run it."""

EXPECTED_RUN = (
    "scripts/up",
    "python starter.py locations add berlin",
    "python starter.py contracts create --id c1",
    "python starter.py invoices list --contract c1",
    "python starter.py contracts change c1 --next-plan office",
    "python starter.py contracts switch c1 --to office",
    "python starter.py contracts cancel c3 --date today",
    "python starter.py contracts new-term --from c3",
    "python starter.py reconcile --dry-run",
    "python starter.py reconcile --billing-only",
    "temporal workflow update execute --workflow-id contract-c2",
    "temporal workflow signal --workflow-id contract-c2",
    "temporal workflow query --workflow-id contract-c2",
    "python starter.py events list --contract c1",
    "python starter.py events tail --after 0",
    "python starter.py bulk run --do set-price",
    "python starter.py plans set-price hot-desk",
)
"""Commands of the walk-through that stay run wherever their block is moved."""

BLOCK = re.compile(
    r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```$", re.MULTILINE | re.DOTALL
)
LINK = re.compile(r"\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(?P<title>.+?) *#*$", re.MULTILINE)


def documents() -> list[Path]:
    """README, every document in docs/, the benchmark's and the examples' READMEs."""
    return [
        README,
        *sorted((ROOT / "docs").glob("*.md")),
        BENCH_README,
        ROOT / "examples" / "README.md",
    ]


def name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def sections(text: str) -> dict[str, str]:
    """A document's top-level (`## `) sections by title (a `## ` line in a code block is none)."""
    lines = text.splitlines(keepends=True)
    code_free = without_code(text).splitlines(keepends=True)
    starts = [number for number, line in enumerate(code_free) if line.startswith("## ")]
    ends = [*starts[1:], len(lines)] if starts else []
    return {
        code_free[start][3:].strip(): "".join(lines[start + 1 : end])
        for start, end in zip(starts, ends, strict=True)
    }


def without_code(text: str) -> str:
    """The text with every fenced block's lines blanked (so line numbers stay)."""
    return BLOCK.sub(lambda match: "\n" * match[0].count("\n"), text)


def unit_text(unit: Unit) -> str:
    path, section = unit
    text = (ROOT / path).read_text(encoding="utf-8")
    if section is None:
        return text
    found = sections(text)
    assert section in found, f"{path} has no section {section!r}"
    return found[section]


def blocks(lang: str, units: tuple[Unit, ...] = RUN) -> list[str]:
    return [
        match["body"]
        for unit in units
        for match in BLOCK.finditer(unit_text(unit))
        if match["lang"] == lang
    ]


def slug(title: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for match in HEADING.finditer(without_code(path.read_text(encoding="utf-8"))):
        base = slug(match["title"])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The link targets of a document, outside its code blocks."""
    text = without_code(path.read_text(encoding="utf-8"))
    return [match["target"] for match in LINK.finditer(text)]


def test_the_runnable_sections_hold_the_blocks_this_test_runs() -> None:
    commands = blocks("bash")
    assert commands[0].splitlines()[0].startswith("scripts/up")
    assert len(commands) >= 6, commands
    assert len(blocks("csv")) == 1
    run = "\n".join(commands)
    missing = [command for command in EXPECTED_RUN if command not in run]
    assert not missing, f"no longer run: {missing}"


def test_every_bash_block_is_run_or_says_why_not() -> None:
    for unit in [*RUN, *NOT_RUN]:
        assert (ROOT / unit[0]).is_file(), unit
        unit_text(unit)  # the section exists
    for path in documents():
        text = path.read_text(encoding="utf-8")
        units: list[Unit] = [(name(path), None)]
        units += [(name(path), title) for title in sections(text)]
        covered = [unit for unit in units if unit in RUN or unit in NOT_RUN]
        covered_blocks = {
            match["body"] for unit in covered for match in BLOCK.finditer(unit_text(unit))
        }
        for match in BLOCK.finditer(text):
            if match["lang"] == "bash":
                assert match["body"] in covered_blocks, (
                    f"{name(path)}: a bash block neither run nor in NOT_RUN:\n{match['body']}"
                )


@pytest.mark.parametrize("path", documents(), ids=name)
def test_relative_links_point_at_files_and_headings_that_exist(path: Path) -> None:
    for target in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        assert linked.is_relative_to(ROOT), f"{name(path)}: {target} leaves the repository"
        assert linked.exists(), f"{name(path)}: {target}: no such file"
        if anchor:
            assert linked.suffix == ".md", f"{name(path)}: {target}: an anchor in a non-document"
            assert anchor in anchors(linked), (
                f"{name(path)}: {target}: {name(linked)} has no heading #{anchor}"
            )


def test_readme_is_short_and_links_every_document() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    linked = {
        (README.parent / target.partition("#")[0]).resolve()
        for target in links(README)
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)
    }
    wanted = [path for path in sorted((ROOT / "docs").iterdir()) if path.is_file()]
    wanted.append(BENCH_README)
    unlinked = [name(path) for path in wanted if path.resolve() not in linked]
    assert not unlinked, f"README links none of {unlinked}"


def test_readme_names_the_test_command_ci_runs() -> None:
    [quick_start, *_] = blocks("bash")
    assert re.search(r"^scripts/test\b", quick_start, re.MULTILINE)
    assert "exec bash scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "`.ci/run` calls `bash scripts/test`" in unit_text(("README.md", "Quick start"))


@pytest.mark.devserver
def test_readme_blocks_run_as_written_on_a_fresh_stack(tmp_path: Path) -> None:
    quick_start, *operator_blocks = blocks("bash")
    assert "scripts/up" in quick_start
    assert "scripts/test" in quick_start  # what CI runs
    port, ui_port = free_ports()
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "TERMSHIFT_DATA_DIR": str(data_dir),
        "COLUMNS": "120",
    }
    env.pop("TERMSHIFT_DATABASE_URL", None)
    with running_stack(data_dir, port, ui_port, command=("bash", str(ROOT / "scripts" / "up"))):
        for number, block in enumerate(operator_blocks, start=1):
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            shown = f"block {number}:\n{block}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            assert done.returncode == 0, shown
            for wrong in ("Refused:", "Failed:", "Traceback"):
                assert wrong not in done.stdout + done.stderr, shown

        # The import example is valid once the blocks before it added its customers and plans.
        [csv] = blocks("csv")
        example = tmp_path / "contracts.csv"
        example.write_text(csv, encoding="utf-8")
        checked = subprocess.run(
            [sys.executable, "starter.py", "contracts", "import", str(example), "--check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert checked.returncode == 0, (checked.stdout, checked.stderr)
