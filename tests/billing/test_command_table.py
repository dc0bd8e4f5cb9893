"""The one table of CLI commands that billing's messages name (`billing.commands`).

Every entry resolves to a command of the CLI (`termshift.cli.app`, as `starter.py` runs it) with
the options the table says messages give it; every `command(...)` call in `billing/` names an
entry and only its options; and no message in `billing/` writes a command by hand.
"""

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from billing.commands import COMMANDS, Cli, CliCommand, command, option_flag
from termshift.cli.app import app

BILLING = Path(__file__).resolve().parents[2] / "billing"
GROUPS = ("locations", "plans", "customers", "contracts", "invoices", "reconcile", "simulate")
HAND_WRITTEN = re.compile(r"`(?:python starter\.py )?(?:" + "|".join(GROUPS) + r")\b")


def resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The CLI command the words name (typer's click command), and the words left over."""
    found: Any = typer.main.get_command(app)
    while hasattr(found, "commands") and words and words[0] in found.commands:
        found, words = found.commands[words[0]], words[1:]
    return found, words


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


def calls_of_command() -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted(BILLING.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "command":
                found.append((f"{path.name}:{node.lineno}", node))
    return found


def test_the_messages_name_their_commands_through_the_table() -> None:
    calls = calls_of_command()
    assert len(calls) > 10, "the scan finds the messages' commands"
    named = set()
    for where, call in calls:
        key = call.args[0]
        assert isinstance(key, ast.Attribute), f"{where}: name the command as Cli.KEY"
        assert isinstance(key.value, ast.Name), f"{where}: name the command as Cli.KEY"
        assert key.value.id == "Cli", f"{where}: name the command as Cli.KEY"
        entry = COMMANDS[Cli[key.attr]]
        named.add(Cli[key.attr])
        for keyword in call.keywords:
            assert keyword.arg is not None, f"{where}: give options by name"
            flag = option_flag(keyword.arg)
            assert flag in entry.options, (
                f"{where}: {flag} is not an option of `{entry.words}` in billing.commands"
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


def test_no_message_in_billing_writes_a_command_by_hand() -> None:
    for path in sorted(BILLING.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
            ):
                assert not HAND_WRITTEN.search(node.value), (
                    f"{path.name}:{node.lineno}: {node.value!r} names a CLI command by hand: "
                    "use billing.commands.command"
                )
