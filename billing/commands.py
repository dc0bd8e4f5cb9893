"""The CLI commands that billing's messages name, in one table.

Refusals, warnings and hints tell the admin what to run next, in backticks — `contracts uncancel
c1`, `contracts clear-change c1`, `contracts new-term --from c1 --plan OFFICE`. Every command a
billing message names is an entry of `COMMANDS` (its words, and the options messages give it), and
messages write it with `command`, never by hand. `tests/billing/test_command_table.py` resolves
each entry against the CLI's command tree and checks every `command(...)` call in `billing/`
against the table, so a renamed command or option fails there rather than in front of an admin.
"""

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple


class Cli(StrEnum):
    """A CLI command that billing's messages name: the key of its entry in `COMMANDS`."""

    SHOW = "show"
    CHANGE = "change"
    CLEAR_CHANGE = "clear_change"
    CANCEL = "cancel"
    UNCANCEL = "uncancel"
    NEW_TERM = "new_term"
    SWITCH = "switch"


class CliCommand(NamedTuple):
    words: str
    """The command as typed after `python starter.py`: "contracts uncancel"."""
    options: tuple[str, ...] = ()
    """The options that messages give it, e.g. ("--date",)."""


COMMANDS: Mapping[Cli, CliCommand] = MappingProxyType(
    {
        Cli.SHOW: CliCommand("contracts show"),
        Cli.CHANGE: CliCommand("contracts change"),
        Cli.CLEAR_CHANGE: CliCommand("contracts clear-change"),
        Cli.CANCEL: CliCommand("contracts cancel", ("--date",)),
        Cli.UNCANCEL: CliCommand("contracts uncancel"),
        Cli.NEW_TERM: CliCommand("contracts new-term", ("--from", "--plan")),
        Cli.SWITCH: CliCommand("contracts switch", ("--to", "--on")),
    }
)
"""Every CLI command that billing's messages name."""


def option_flag(name: str) -> str:
    """The flag of a keyword of `command`: `from_` → `--from`, `next_plan` → `--next-plan`."""
    return "--" + name.rstrip("_").replace("_", "-")


def command(key: Cli, *arguments: object, **options: object) -> str:
    """The command in backticks, as a message names it: its words, the `arguments`, then each
    option with its value (True names the option alone).

    `command(Cli.CANCEL, "c1", date="DATE")` is "`contracts cancel c1 --date DATE`", and
    `command(Cli.NEW_TERM, from_="c1")` is "`contracts new-term --from c1`".
    """
    parts = [COMMANDS[key].words, *(str(argument) for argument in arguments)]
    for name, value in options.items():
        parts.append(option_flag(name) if value is True else f"{option_flag(name)} {value}")
    return "`" + " ".join(parts) + "`"
