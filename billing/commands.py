"""The CLI commands that the product's messages name, in one table.

Refusals, warnings, hints and reports tell the admin what to run next, in backticks — `contracts
uncancel c1`, `contracts new-term --from c1 --plan OFFICE`, `reconcile --billing-only`, or in full
where the text is read away from the command line (reconcile's findings): `python starter.py
contracts show c1`. Every command a message of the product names — in `billing/`, `termshift/`,
`workflows/`, `activities/` or `store/` — is an entry of `COMMANDS` (its words, and the options
messages give it), and messages write it with `command`, `full_command` or `command_line`, never
by hand. `tests/architecture/test_command_table.py` resolves each entry against the CLI's command
tree and checks every call of them against the table, so a renamed command or option fails there
rather than in front of an admin.

Only the standard library: the functional core (`billing/`) writes its messages with it too.
"""

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

STARTER = "python starter.py"
"""How a shell runs the CLI: what `full_command` writes before the command's words."""


class Cli(StrEnum):
    """A CLI command that a message names: the key of its entry in `COMMANDS`. A `contracts`
    command is keyed by its own name; other groups' commands by the group's."""

    LIST = "list"
    SHOW = "show"
    PREVIEW = "preview"
    CHANGE = "change"
    CLEAR_CHANGE = "clear_change"
    CANCEL = "cancel"
    UNCANCEL = "uncancel"
    NEW_TERM = "new_term"
    SWITCH = "switch"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    SET_PRICE = "set_price"
    INVOICES = "invoices"
    RECONCILE = "reconcile"
    EVENTS = "events"
    EVENTS_TAIL = "events_tail"
    WEBHOOKS_NEW_SECRET = "webhooks_new_secret"
    WEBHOOKS_ADD = "webhooks_add"
    WEBHOOKS_TEST = "webhooks_test"
    WEBHOOKS_REDELIVER = "webhooks_redeliver"
    BULK_RUN = "bulk_run"
    BULK_STATUS = "bulk_status"
    BULK_LIST = "bulk_list"
    BULK_CANCEL = "bulk_cancel"


class CliCommand(NamedTuple):
    words: str
    """The command as typed after `python starter.py`: "contracts uncancel"."""
    options: tuple[str, ...] = ()
    """The options that messages give it, e.g. ("--date",)."""


COMMANDS: Mapping[Cli, CliCommand] = MappingProxyType(
    {
        Cli.LIST: CliCommand("contracts list"),
        Cli.SHOW: CliCommand("contracts show"),
        Cli.PREVIEW: CliCommand("contracts preview"),
        Cli.CHANGE: CliCommand("contracts change", ("--next-plan", "--price")),
        Cli.CLEAR_CHANGE: CliCommand("contracts clear-change"),
        Cli.CANCEL: CliCommand("contracts cancel", ("--date", "--charge-remaining-term")),
        Cli.UNCANCEL: CliCommand("contracts uncancel"),
        Cli.NEW_TERM: CliCommand("contracts new-term", ("--from", "--plan")),
        Cli.SWITCH: CliCommand("contracts switch", ("--to", "--on")),
        Cli.FREEZE: CliCommand("contracts freeze", ("--cycles",)),
        Cli.UNFREEZE: CliCommand("contracts unfreeze"),
        Cli.SET_PRICE: CliCommand("contracts set-price", ("--price", "--from")),
        Cli.INVOICES: CliCommand("invoices list", ("--customer",)),
        Cli.RECONCILE: CliCommand("reconcile", ("--billing-only",)),
        Cli.EVENTS: CliCommand("events list", ("--after",)),
        Cli.EVENTS_TAIL: CliCommand("events tail", ("--after",)),
        Cli.WEBHOOKS_NEW_SECRET: CliCommand("webhooks new-secret"),
        Cli.WEBHOOKS_ADD: CliCommand("webhooks add", ("--secret-file",)),
        Cli.WEBHOOKS_TEST: CliCommand("webhooks test"),
        Cli.WEBHOOKS_REDELIVER: CliCommand("webhooks redeliver"),
        Cli.BULK_RUN: CliCommand("bulk run", ("--job",)),
        Cli.BULK_STATUS: CliCommand("bulk status"),
        Cli.BULK_LIST: CliCommand("bulk list"),
        Cli.BULK_CANCEL: CliCommand("bulk cancel"),
    }
)
"""Every CLI command that the product's messages name."""


def option_flag(name: str) -> str:
    """The flag of a keyword of `command`: `from_` → `--from`, `next_plan` → `--next-plan`."""
    return "--" + name.rstrip("_").replace("_", "-")


def command_line(key: Cli, *arguments: object, **options: object) -> str:
    """The command as typed after `python starter.py`, without backticks: its words, the
    `arguments`, then each option with its value (True names the option alone).

    `command_line(Cli.CANCEL, "c1", date="DATE")` is "contracts cancel c1 --date DATE".
    """
    parts = [COMMANDS[key].words, *(str(argument) for argument in arguments)]
    for name, value in options.items():
        parts.append(option_flag(name) if value is True else f"{option_flag(name)} {value}")
    return " ".join(parts)


def command(key: Cli, *arguments: object, **options: object) -> str:
    """The command in backticks, as a message names it (see `command_line`).

    `command(Cli.CANCEL, "c1", date="DATE")` is "`contracts cancel c1 --date DATE`", and
    `command(Cli.NEW_TERM, from_="c1")` is "`contracts new-term --from c1`".
    """
    return f"`{command_line(key, *arguments, **options)}`"


def full_command(key: Cli, *arguments: object, **options: object) -> str:
    """The command in backticks as a shell runs it, for text read away from the command line.

    `full_command(Cli.SHOW, "c1")` is "`python starter.py contracts show c1`".
    """
    return f"`{STARTER} {command_line(key, *arguments, **options)}`"
