"""`reconcile`: make the billing database and the running workflows agree (or say why not).

Exit codes: 0 when everything is consistent or was repaired (in a dry run: or would be), 1 when
something needs an admin's attention, 2 on refused input.
"""

from typing import Annotated

import typer
from rich.table import Table

from termshift.cli._common import (
    EXIT_FAILED,
    ActorOption,
    AddressOption,
    JsonOption,
    ReasonOption,
    client,
    console,
    database,
    emit_json,
    errors,
    handled,
    requested,
    run,
)
from termshift.reconcile import Outcome, ReconcileReport, reconcile
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
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Compare the billing database with the running workflows; start missing ones again.

    Ended workflows are reported, never restarted; orphans are reported, never terminated.
    """
    with handled():
        command = requested(actor, reason)

    async def go() -> ReconcileReport:
        db = database()
        try:
            temporal = await client(address)
            with errors.status("Checking contracts…") as status:
                return await reconcile(
                    temporal,
                    db,
                    task_queue=Settings().task_queue,
                    requested=command,
                    dry_run=dry_run,
                    progress=status.update,
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


def _print(report: ReconcileReport) -> None:
    if report.findings:
        table = Table("kind", "contract", "outcome", "detail", "action", show_lines=True)
        for finding in report.findings:
            style = STYLES[finding.outcome]
            table.add_row(
                finding.kind.value,
                finding.contract_id,
                f"[{style}]{finding.outcome.value}[/]",
                finding.detail,
                finding.action,
            )
        console.print(table)
    for note in report.notes:
        console.print(f"[yellow]Note:[/] {note}", highlight=False)
    if report.dry_run:
        parts = [
            f"{report.checked} checked",
            f"{report.would_repair} would be repaired",
            f"{report.needs_attention} need attention",
        ]
        suffix = " (dry run: nothing changed)"
    else:
        parts = [
            f"{report.checked} checked",
            f"{report.repaired} repaired",
            f"{report.needs_attention} need attention",
        ]
        suffix = ""
    verdict = "" if report.findings else " Database and workflows agree."
    console.print(", ".join(parts) + f"{suffix}.{verdict}", highlight=False)
