"""`reconcile`: check the billing database against R20 and against the running workflows.

Exit codes: 0 when everything is consistent or was repaired (in a dry run: or would be), 1 when
something needs an admin's attention — a billing violation (R20), an ended workflow, an orphan —
or the Temporal server or the database cannot be reached, 2 on refused input.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from billing.commands import Cli, command, full_command
from billing.money import format_money
from termshift.cli._common import (
    EXIT_FAILED,
    ActorOption,
    AddressOption,
    Failed,
    JsonOption,
    ReasonOption,
    client,
    console,
    database,
    emit_json,
    errors,
    handled,
    print_listing,
    requested,
    run,
)
from termshift.services.reconcile import reconcile
from termshift.services.reconcile_billing import billing_report
from termshift.services.reconcile_report import Finding, FindingKind, Outcome, ReconcileReport
from termshift.settings import Settings

STYLES = {
    Outcome.REPAIRED: "green",
    Outcome.WOULD_REPAIR: "cyan",
    Outcome.NEEDS_ATTENTION: "bold red",
    Outcome.INFO: "yellow",
}


def reconcile_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Change nothing; say what would be done.")
    ] = False,
    billing_only: Annotated[
        bool,
        typer.Option(
            "--billing-only",
            help="Check only the billing database against R20, without the Temporal server "
            "(which may be down); changes nothing.",
        ),
    ] = False,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Check the billing database against R20 and compare it with the running workflows; start
    missing workflows again, webhook endpoints' delivery workflows too.

    R20: every served day billed exactly once, every deposit adding up. Each violation is
    reported — contract (or customer), kind, days, amount — and never repaired: reconcile writes
    no invoice. Ended workflows are reported, never restarted; orphans are reported, never
    terminated.

    Exit codes: 0 everything agrees or was repaired (with --dry-run: would be); 1 something needs
    attention (a billing violation, an ended workflow, an orphan), or the Temporal server or the
    database cannot be reached; 2 refused input.
    """
    with handled():
        who = requested(actor, reason)

    async def go() -> ReconcileReport:
        db = database()
        try:
            if billing_only:
                with _progress() as bar:
                    return billing_report(db, dry_run=dry_run, progress=bar.billing)
            try:
                temporal = await client(address)
            except Failed as error:
                raise Failed(
                    f"{error} {command(Cli.RECONCILE, billing_only=True)} checks the billing "
                    "database without it."
                ) from None
            settings = Settings()
            with _progress() as bar:
                return await reconcile(
                    temporal,
                    db,
                    task_queue=settings.task_queue,
                    settings=settings,
                    requested=who,
                    dry_run=dry_run,
                    progress=bar.workflows,
                    billing_progress=bar.billing,
                )
        finally:
            db.dispose()

    report = run(go)
    if json:
        emit_json(report)
    else:
        _print(report)
    if report.needs_attention:
        raise typer.Exit(EXIT_FAILED)


class _Bars:
    """Progress on stderr, while the terminal is interactive: the contracts checked against R20,
    then the workflows in words."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._billing = bar.add_task("Checking billing (R20)…", total=None, count="")
        self._workflows = bar.add_task("", total=None, count="", visible=False)

    def billing(self, done: int, total: int) -> None:
        self._bar.update(self._billing, completed=done, total=total, count=f"{done}/{total}")

    def workflows(self, message: str) -> None:
        self._bar.update(self._workflows, description=message, visible=True)


@contextmanager
def _progress() -> Iterator[_Bars]:
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=not errors.is_terminal,  # no bar in logs and pipes
    )
    with bar:
        yield _Bars(bar)


def _print(report: ReconcileReport) -> None:
    workflows = [f for f in report.findings if f.kind is not FindingKind.BILLING]
    billing = [f for f in report.findings if f.kind is FindingKind.BILLING]
    if workflows:
        table = Table("kind", "contract", "outcome", "detail", "action", show_lines=True)
        for finding in workflows:
            style = STYLES[finding.outcome]
            table.add_row(
                finding.kind.value,
                finding.contract_id or f"endpoint {finding.endpoint_id}",
                f"[{style}]{finding.outcome.value}[/]",
                finding.detail,
                finding.action,
            )
        console.print(table)
    if billing:
        _print_billing(billing)
    for note in report.notes:
        console.print(f"[yellow]Note:[/] {note}", highlight=False)
    if billing:
        contracts = len({f.contract_id for f in billing if f.contract_id is not None})
        deposits = sum(1 for f in billing if f.contract_id is None)
        console.print(
            f"[bold red]Billing (R20): {_count(len(billing), 'violation')}[/] "
            f"({_count(contracts, 'contract')}, {_count(deposits, 'deposit')}): reported, "
            "not repaired.",
            highlight=False,
        )
    else:
        console.print(
            f"Billing (R20): every served day of the {_count(report.checked, 'contract')} "
            "checked is billed exactly once, and every deposit adds up.",
            highlight=False,
        )
    if not report.workflows_compared:
        console.print(
            f"{report.checked} checked, {report.needs_attention} need attention "
            "(billing only: workflows not compared).",
            highlight=False,
        )
        return
    checked = f"{report.checked} checked"
    if report.endpoints_checked:
        checked += f" (and {_count(report.endpoints_checked, 'webhook endpoint')})"
    if report.dry_run:
        parts = [
            checked,
            f"{report.would_repair} would be repaired",
            f"{report.needs_attention} need attention",
        ]
        suffix = " (dry run: nothing changed)"
    else:
        parts = [
            checked,
            f"{report.repaired} repaired",
            f"{report.needs_attention} need attention",
        ]
        suffix = ""
    verdict = "" if workflows else " Database and workflows agree."
    console.print(", ".join(parts) + f"{suffix}.{verdict}", highlight=False)


def _print_billing(findings: list[Finding]) -> None:
    console.print(
        "[bold]Billing (R20): served days not billed exactly once, deposits that do not add up[/]",
        highlight=False,
    )
    rows = []
    for finding in findings:
        violation = finding.violation
        assert violation is not None  # every billing finding carries its violation
        rows.append(
            (
                f"[bold red]{violation.kind.value}[/]",
                escape(finding.contract_id or f"customer {violation.customer_id}"),
                str(violation.start or "—"),
                str(violation.end or "—"),
                str(violation.days) if violation.start is not None else "—",
                format_money(violation.amount, violation.currency),
                escape(finding.detail),
            )
        )
    print_listing(
        ("violation", "contract", "from", "to", "days", "amount", "detail"),
        rows,
        drop=("detail",),
        right=("days", "amount"),
    )
    console.print("(Days run from `from` up to `to`, which is not included.)", highlight=False)
    console.print(
        "[bold red]Not repaired:[/] reconcile writes no invoice and no deposit movement. Look "
        f"at each contract with {full_command(Cli.SHOW, 'ID')} (a deposit: "
        f"{command(Cli.INVOICES, customer='ID')}) and correct the invoices by hand; `--json` has "
        "each finding's action.",
        highlight=False,
    )


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
