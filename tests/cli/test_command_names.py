"""Every CLI command that a message, a hint or a document names exists, with the options named.

Docstrings, the README and the documents in docs/ and bench/README.md name commands in backticks
(`contracts uncancel c1`); messages write theirs from the one table `billing.commands`, which
`tests/architecture/test_command_table.py` checks.
This reads them all from the source and checks each against `starter.py`'s command tree, so a
renamed or never-written command (`contracts schedule-change`) fails here. That each hint also
works in the state its refusal describes is run through the CLI in `test_operator_edges.py`.
"""

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from termshift.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted(
        path
        for package in ("billing", "workflows", "activities", "store", "termshift")
        for path in (ROOT / package).rglob("*.py")
    ),
    ROOT / "worker.py",
    ROOT / "starter.py",
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "bench" / "README.md",
    ROOT / "examples" / "README.md",
]
GROUPS = ("locations", "plans", "customers", "contracts", "invoices", "events")
TOP = ("reconcile", "simulate")
NAMED = re.compile(r"`((?:python starter\.py )?(?:" + "|".join(GROUPS + TOP) + r")(?: [^`\n]*)?)`")


def named_commands() -> list[tuple[str, str]]:
    found = []
    for path in SOURCES:
        for match in NAMED.finditer(path.read_text(encoding="utf-8")):
            found.append((f"{path.relative_to(ROOT)}", match[1]))
    return found


def resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The command the words name (typer's click command), and the words after it."""
    command: Any = typer.main.get_command(app)
    while is_group(command) and words and words[0] in command.commands:
        command = command.commands[words[0]]
        words = words[1:]
    return command, words


def is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def options(command: Any) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


def test_the_scan_finds_the_commands_messages_name() -> None:
    named = {text for _, text in named_commands()}
    assert any(text.startswith("contracts uncancel") for text in named)
    assert any(text.startswith("contracts new-term --from") for text in named)
    assert any(text.startswith("contracts clear-change") for text in named)


@pytest.mark.parametrize(("where", "text"), named_commands())
def test_each_named_command_exists_with_its_options(where: str, text: str) -> None:
    cleaned = text.removeprefix("python starter.py ")
    cleaned = re.sub(r"[\[\]]", " ", cleaned)  # [--optional] in the README's table
    words = [word for word in shlex.split(cleaned, posix=True) if word != "/"]
    command, rest = resolve(words)
    if is_group(command):  # a group named on its own (`contracts`) exists; a subcommand must too
        assert not rest, f"{where}: `{text}`: {command.name} has no command {rest[0]}"
        return
    known = options(command)
    for word in rest:
        if word.startswith("--"):
            flag = word.split("=", 1)[0]
            assert flag in known, f"{where}: `{text}`: {command.name} has no option {flag}"
