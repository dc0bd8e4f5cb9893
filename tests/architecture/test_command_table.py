"""The one table of CLI commands that the product's messages name (`billing.commands`).

Every entry resolves to a command of the CLI (`termshift.cli.app`, as `starter.py` runs it) with
the options the table says messages give it; every call of the table's writers (`command`,
`full_command`, `command_line`) in the product names an entry and only its options; every entry is
named by some message; and no message writes a command by hand. The product is `billing/`,
`termshift/` (the CLI, services, simulator, stack), `workflows/`, `activities/` and `store/`.
Docstrings and comments name commands freely: they are not messages (`tests/cli/
test_command_names.py` checks the commands they name).
"""

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from billing.commands import (
    COMMANDS,
    STARTER,
    Cli,
    CliCommand,
    command,
    command_line,
    full_command,
    option_flag,
)
from termshift.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("billing", "termshift", "workflows", "activities", "store")
TABLE = "billing.commands"
WRITERS = frozenset({"command", "full_command", "command_line"})
"""The functions of `billing.commands` that write a command into a message."""


def cli() -> Any:
    """The CLI's command tree (typer's click group)."""
    return typer.main.get_command(app)


GROUPS = tuple(sorted(cli().commands))
"""The CLI's top-level commands and groups: `contracts`, `reconcile`, …"""
HAND_WRITTEN = re.compile(
    r"(?:`(?:python starter\.py )?|python starter\.py )(?:" + "|".join(GROUPS) + r")\b"
)
"""A command written by hand: in backticks, or after `python starter.py`."""


def sources() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def where(path: Path, node: ast.expr) -> str:
    return f"{path.relative_to(ROOT).as_posix()}:{node.lineno}"


def resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The CLI command the words name (typer's click command), and the words left over."""
    found: Any = cli()
    while hasattr(found, "commands") and words and words[0] in found.commands:
        found, words = found.commands[words[0]], words[1:]
    return found, words


def test_the_groups_are_read_from_the_cli() -> None:
    assert {"contracts", "invoices", "reconcile", "simulate"} <= set(GROUPS)


@pytest.mark.parametrize(("key", "entry"), list(COMMANDS.items()), ids=[*map(str, COMMANDS)])
def test_each_entry_is_a_command_of_the_cli_with_its_options(key: Cli, entry: CliCommand) -> None:
    found, rest = resolve(entry.words.split())
    assert not rest, f"{key}: `{entry.words}`: there is no command {rest[0]!r} there"
    assert not hasattr(found, "commands"), f"{key}: `{entry.words}` is a group, not a command"
    known = {name for param in found.params for name in (*param.opts, *param.secondary_opts)}
    for option in entry.options:
        assert option in known, f"{key}: `{entry.words}` has no option {option}"


def test_every_key_has_an_entry() -> None:
    assert set(COMMANDS) == set(Cli)


def test_a_command_is_written_in_backticks_with_its_arguments_and_options() -> None:
    assert command(Cli.UNCANCEL, "c1") == "`contracts uncancel c1`"
    assert command(Cli.NEW_TERM, from_="c1", plan="OFFICE") == (
        "`contracts new-term --from c1 --plan OFFICE`"
    )
    assert command(Cli.CANCEL, date=True) == "`contracts cancel --date`"
    assert command(Cli.RECONCILE, billing_only=True) == "`reconcile --billing-only`"


def test_a_full_command_is_written_as_a_shell_runs_it() -> None:
    assert full_command(Cli.SHOW, "c1") == "`python starter.py contracts show c1`"
    assert full_command(Cli.INVOICES, customer="ada") == (
        "`python starter.py invoices list --customer ada`"
    )
    assert full_command(Cli.SHOW, "c1") == f"`{STARTER} {command_line(Cli.SHOW, 'c1')}`"


def test_a_command_line_has_no_backticks() -> None:
    assert command_line(Cli.LIST) == "contracts list"
    assert command_line(Cli.CANCEL, "c1", date="DATE") == "contracts cancel c1 --date DATE"


def writer_calls(tree: ast.Module) -> list[ast.Call]:
    """The calls in `tree` of the table's writers, however the module imported them: `command`
    (or an alias) from `billing.commands`, or `commands.command` from `billing`."""
    names: set[str] = set()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == TABLE and node.level == 0:
            names.update(
                alias.asname or alias.name for alias in node.names if alias.name in WRITERS
            )
        elif isinstance(node, ast.ImportFrom) and node.module == "billing" and node.level == 0:
            modules.update(
                alias.asname or alias.name for alias in node.names if alias.name == "commands"
            )
        elif isinstance(node, ast.Import):
            modules.update(
                alias.asname or alias.name for alias in node.names if alias.name == TABLE
            )
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (isinstance(func, ast.Name) and func.id in names) or (
            isinstance(func, ast.Attribute)
            and func.attr in WRITERS
            and ast.unparse(func.value) in modules
        ):
            found.append(node)
    return found


def calls_of_the_table() -> list[tuple[str, ast.Call]]:
    return [
        (where(path, call), call)
        for path in sources()
        for call in writer_calls(ast.parse(path.read_text(encoding="utf-8")))
    ]


def test_the_messages_name_their_commands_through_the_table() -> None:
    calls = calls_of_the_table()
    assert len(calls) > 30, "the scan finds the messages' commands"
    assert {place.split("/", 1)[0] for place, _ in calls} >= {"billing", "termshift"}
    named = set()
    for place, call in calls:
        assert call.args, f"{place}: name the command as Cli.KEY"
        key = call.args[0]
        assert isinstance(key, ast.Attribute), f"{place}: name the command as Cli.KEY"
        assert isinstance(key.value, ast.Name), f"{place}: name the command as Cli.KEY"
        assert key.value.id == "Cli", f"{place}: name the command as Cli.KEY"
        assert key.attr in Cli.__members__, f"{place}: Cli has no {key.attr}"
        entry = COMMANDS[Cli[key.attr]]
        named.add(Cli[key.attr])
        for keyword in call.keywords:
            assert keyword.arg is not None, f"{place}: give options by name"
            flag = option_flag(keyword.arg)
            assert flag in entry.options, (
                f"{place}: {flag} is not an option of `{entry.words}` in billing.commands"
            )
    assert named == set(Cli), f"entries no message names: {set(Cli) - named}"


def docstrings(tree: ast.Module) -> set[int]:
    """The ids of the string nodes that are docstrings (of modules, classes, functions,
    attributes)."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for statement in body:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                found.add(id(statement.value))
    return found


def test_the_hand_written_pattern_finds_commands() -> None:
    assert HAND_WRITTEN.search("see `contracts list`.")
    assert HAND_WRITTEN.search("Look at `python starter.py contracts ")
    assert HAND_WRITTEN.search(" `reconcile --billing-only` checks")
    assert HAND_WRITTEN.search("Try: python starter.py invoices list")
    assert not HAND_WRITTEN.search("run `python worker.py`")
    assert not HAND_WRITTEN.search("see `--json`")


@pytest.mark.parametrize("package", PACKAGES)
def test_no_message_writes_a_command_by_hand(package: str) -> None:
    offending: list[str] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = docstrings(tree)
        offending.extend(
            f"{where(path, node)}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and HAND_WRITTEN.search(node.value)
        )
    assert offending == [], "these name a CLI command by hand: use billing.commands.command"
