"""`simulate SCENARIO.yaml`: play a scenario through the real workflow on a time-skipping server.

Exit codes as everywhere: 0 done (rejected commands are part of the story, not a failure), 2 the
scenario file is invalid (every problem named by its place, e.g. `actions[3].do.cancel.date`),
1 anything else — and, as `reconcile` does when something needs attention, when the run breaks R20
(served days not billed exactly once, a deposit that does not add up): the report is printed in
full, the violations in it, and a line on stderr says how many. With `--json` stdout carries only
the JSON of SPEC §6; progress goes to stderr.
"""

import asyncio
import datetime as dt
import json as jsonlib
import logging
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from billing.money import format_money
from termshift.cli._common import EXIT_FAILED, EXIT_REFUSED, JsonOption, errors
from termshift.simulator import (
    ScenarioError,
    SimulationResult,
    ViolationOut,
    load_scenario,
    simulate,
)

ScenarioArgument = Annotated[
    Path, typer.Argument(help="Scenario file (YAML): currency, timezone, plans, contracts, …")
]


def simulate_command(scenario: ScenarioArgument, json: JsonOption = False) -> None:
    """Run a scenario through the real contract workflow and print what happened, day by day."""
    try:
        parsed = load_scenario(scenario)
    except ScenarioError as error:
        _invalid(scenario, error)
    # The worker logs refused commands (activities failing on purpose): the report says it better.
    logging.getLogger("temporalio").setLevel(logging.CRITICAL)
    try:
        with errors.status(f"simulating {scenario.name}…") as status:

            def progress(day: dt.date) -> None:
                status.update(f"simulating {scenario.name}: {day:%Y-%m-%d}…")

            result = asyncio.run(simulate(parsed, progress=progress))
    except ScenarioError as error:
        _invalid(scenario, error)
    except Exception as error:
        _fail(EXIT_FAILED, f"{type(error).__name__}: {error}")
    if json:
        sys.stdout.write(jsonlib.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        print_timeline(result, Console())
    if result.violations:
        count = len(result.violations)
        _fail(
            EXIT_FAILED,
            f"the run breaks R20: {count} violation{'s' if count != 1 else ''} "
            f"({', '.join(sorted({v.kind for v in result.violations}))}); see "
            + ("`violations` in the JSON." if json else "the list above."),
        )


def _invalid(scenario: Path, error: ScenarioError) -> NoReturn:
    problems = "".join(f"\n  {problem}" for problem in error.problems)
    _fail(EXIT_REFUSED, f"invalid scenario {scenario}:{problems}")


def _fail(code: int, message: str) -> NoReturn:
    label = "Refused" if code == EXIT_REFUSED else "Failed"
    errors.print(f"[bold red]{label}:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_timeline(result: SimulationResult, console: Console) -> None:
    """Day by day: contracts starting and ending, invoices with their lines, commands sent."""
    currency = result.currency

    def money(amount: str) -> str:
        return format_money(Decimal(amount), currency)

    days: dict[dt.date, list[tuple[str, RenderableType]]] = defaultdict(list)
    for contract in result.contracts:
        if contract.end is not None:
            days[contract.end].append(
                (
                    "00:00 [red]ends[/]",
                    f"contract [bold]{contract.id}[/] (its first day not served)",
                )
            )
    for contract in result.contracts:
        if contract.status != "inactive":
            replaces = f", replacing {contract.replaces}" if contract.replaces else ""
            committed = (
                f", commitment end {contract.commitment_end}" if contract.commitment_end else ""
            )
            days[contract.start].append(
                (
                    "00:00 [green]starts[/]",
                    f"contract [bold]{contract.id}[/] on {contract.plan} at "
                    f"{money(contract.price)}{replaces}{committed}",
                )
            )
    for invoice in result.invoices:
        lines = Table.grid(padding=(0, 2))
        lines.add_column(min_width=16)
        lines.add_column(min_width=24)
        lines.add_column(min_width=14, justify="right")
        for line in invoice.lines:
            span = (
                f"{line.period_start} to {line.period_end}"
                if line.period_start != line.period_end
                else str(line.period_start)
            )
            lines.add_row(line.kind, span, money(line.amount))
        lines.add_row("total", "", Text(money(invoice.total), style="bold"))
        days[invoice.date].append(
            ("00:00 [cyan]invoice[/]", Group(f"contract [bold]{invoice.contract}[/]", lines))
        )
    for command in result.commands:
        text = f"{command.action} on [bold]{command.contract}[/]: {escape(command.message)}"
        for warning in command.warnings:
            text += f"\n[yellow]warning:[/] {escape(warning)}"
        label = "[blue]12:00[/] " + ("accepted" if command.accepted else "[bold red]refused[/]")
        days[command.on].append((label, text))
    for violation in result.violations:
        days[violation.start or result.until].append(
            ("[bold red]R20 violated[/]", _violation_text(violation))
        )
    for day in sorted(days):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(width=16, no_wrap=True)
        grid.add_column()
        for label, entry in days[day]:
            grid.add_row(label, entry)
        console.print(f"[bold underline]{day}[/]")
        console.print(grid, highlight=False)
    held = ", ".join(f"{d.customer} {money(d.held)}" for d in result.deposits)
    console.print(f"[bold]Deposits held after {result.until}:[/] {held}", highlight=False)
    if not result.violations:
        console.print("[green]Every served day billed exactly once (R20).[/]", highlight=False)
        return
    count = len(result.violations)
    console.print(
        f"[bold red]R20 violated {count} time{'s' if count != 1 else ''}: "
        "served days not billed exactly once, or deposits that do not add up:[/]",
        highlight=False,
    )
    for violation in result.violations:
        console.print(f"  [red]•[/] {_violation_text(violation)}", highlight=False)


def _violation_text(violation: ViolationOut) -> str:
    """The kind and whose, then the check's own sentence (its days and money)."""
    where = (
        f"{violation.kind} on contract [bold]{escape(violation.contract)}[/]"
        if violation.contract is not None
        else f"deposit of [bold]{escape(violation.customer)}[/]"
    )
    return f"{where}: {escape(violation.detail)}"
