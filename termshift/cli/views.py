"""Looking at a contract: `contracts show` (stored terms, live state, lineage, invoices, what
ended it) and `contracts preview` (what happens next). Nothing here changes anything."""

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.table import Table
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from billing import deposits, lifecycle
from billing.commands import Cli, command
from billing.contract import Contract, ContractStatus, LineKind
from billing.money import format_money
from store import repository
from store.errors import NotFound
from store.records import AuditEntry, IssuedInvoice
from termshift.cli._common import (
    AddressOption,
    ContractArgument,
    JsonOption,
    Refused,
    client,
    console,
    database,
    emit_json,
    run,
)
from termshift.cli._terms_shown import TermsShown, term_lines, terms_shown
from termshift.cli.contracts import contracts, existing_contract_id
from workflows import ContractWorkflow, workflow_id
from workflows.messages import ContractView


class Ending(BaseModel):
    """What ended a contract: the day, what happened then, and who asked for it (R11)."""

    date: date
    what: str
    """What happened on that date, as recorded (e.g. "Switched to office as contract c1-t2.")."""
    command: str | None
    """The command that set it up (cancel, cancel_at_next_invoice, schedule_change, switch)."""
    actor: str | None
    reason: str | None


class ContractShown(BaseModel):
    """`contracts show`: the stored contract joined with its workflow's live state."""

    contract: Contract
    workflow_id: str
    workflow_status: str
    next_event_date: date | None
    next_event: str
    next_invoice_date: date | None
    replaces: str | None
    replaced_by: str | None
    lineage: list[str]
    ended: Ending | None
    invoices: list[IssuedInvoice]
    refused: list[dict[str, Any]]
    terms: TermsShown
    """The terms in force and the dates they set (§3b)."""


async def live_view(temporal: Client, contract_id: str) -> tuple[str, ContractView | None]:
    """The workflow's status and, while it runs (or once it completed), its view."""
    handle = temporal.get_workflow_handle_for(ContractWorkflow.run, workflow_id(contract_id))
    try:
        description = await handle.describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return "missing", None
        raise
    status = description.status or WorkflowExecutionStatus.RUNNING
    if status is WorkflowExecutionStatus.RUNNING:
        try:
            return "running", await handle.query(ContractWorkflow.state)
        except WorkflowQueryFailedError as error:
            return f"running, but its state cannot be read: {error}", None
    if status is WorkflowExecutionStatus.COMPLETED:
        return "completed", await handle.result()
    return status.name.lower(), None


@contracts.command("show")
def show(
    contract_id: ContractArgument,
    address: AddressOption = None,
    json: JsonOption = False,
) -> None:
    """Show a contract: stored terms joined with its workflow's live state and its lineage."""

    async def go() -> ContractShown:
        existing_contract_id(contract_id)
        with database().session() as session:
            record = repository.get_contract(session, contract_id)
            lineage = _lineage(session, record.contract)
            issued = repository.list_invoices(session, contract_id=contract_id)
            audit = repository.audit_entries(session, contract_id)
        status, view = await live_view(await client(address), contract_id)
        # A completed workflow's state is frozen; the row goes on (a later new term links it).
        running = view is not None and status == "running"
        contract = view.contract if view is not None and running else record.contract
        if view is not None and not running:
            view = view.model_copy(update={"contract": contract})
        return ContractShown(
            contract=contract,
            workflow_id=workflow_id(contract_id),
            workflow_status=status,
            next_event_date=view.next_event_date if view else None,
            next_event=view.next_event if view else "Unknown: the workflow is not running.",
            next_invoice_date=view.next_invoice_date if view else None,
            replaces=contract.replaces,
            replaced_by=contract.successor_id,
            lineage=lineage,
            ended=_ending(contract, audit),
            invoices=issued,
            refused=[item.model_dump(mode="json") for item in (view.refused if view else ())],
            terms=terms_shown(contract),
        )

    shown = run(go)
    if json:
        emit_json(shown)
        return
    c = shown.contract
    table = Table(show_header=False, box=None)
    table.add_row("contract", c.id)
    table.add_row("customer", c.customer_id)
    table.add_row("plan", f"{c.plan.code} ({c.plan.name}), every {c.plan.every}")
    custom = " — custom price" if c.custom_price else ""
    table.add_row("price", f"{format_money(c.price, c.currency)}{custom}")
    table.add_row("status", c.status.value)
    table.add_row("start / anchor", f"{c.start} / {c.anchor}")
    table.add_row("next invoice date", str(shown.next_invoice_date or "—"))
    table.add_row("next", shown.next_event)
    if c.scheduled_change is not None:
        target = c.scheduled_change.next_plan
        table.add_row(
            "scheduled change",
            f"switch to {target.code}" if target else "cancel at next invoice date",
        )
    if c.cancellation is not None:
        flag = "prorated" if c.cancellation.prorate else "not prorated"
        table.add_row("cancellation", f"{c.cancellation.date} ({flag})")
    for label, text in term_lines(c, shown.terms):
        table.add_row(label, text)
    ending = shown.ended
    if ending is not None:
        asked = (
            f" — {ending.command} by {ending.actor}"
            + (f" ({ending.reason})" if ending.reason else "")
            if ending.command
            else ""
        )
        table.add_row("ended", f"{ending.date}: {ending.what}{asked}")
    table.add_row("terms", " → ".join(shown.lineage))
    table.add_row("workflow", f"{shown.workflow_id} ({shown.workflow_status})")
    console.print(table)
    if shown.invoices:
        invoices_table = Table("invoice", "date", "lines", "total", box=None)
        for invoice in shown.invoices:
            invoices_table.add_row(
                invoice.number,
                str(invoice.issue_date),
                ", ".join(line.kind.value for line in invoice.lines),
                format_money(invoice.total, invoice.currency),
            )
        console.print(invoices_table)
    else:
        console.print("No invoices yet.")
    for item in shown.refused:
        console.print(f"[yellow]refused[/] {item['at']} {item['command']}: {item['message']}")


_ENDING_COMMANDS = ("cancel", "cancel_at_next_invoice", "schedule_change", "switch")
"""The commands that set up a contract's end (a manual or end-of-term cancellation, a switch)."""


def _ending(contract: Contract, audit: list[AuditEntry]) -> Ending | None:
    """What ended the contract, from the audit log: the entry of its last date, and the last
    accepted command that set the end up (an automated end has none)."""
    if contract.end is None:
        return None
    day = f"contract date {contract.end}"
    what = next(
        (entry.effect for entry in reversed(audit) if entry.command == day),
        f"Ended on {contract.end}.",
    )
    asked = next(
        (
            entry
            for entry in reversed(audit)
            if entry.command in _ENDING_COMMANDS and not entry.effect.startswith("Refused:")
        ),
        None,
    )
    return Ending(
        date=contract.end,
        what=what,
        command=asked.command if asked else None,
        actor=asked.actor if asked else None,
        reason=(asked.reason or None) if asked else None,
    )


def _lineage(session: Session, contract: Contract) -> list[str]:
    """Every term of this contract's line, oldest first (R8 lineage)."""
    chain = [contract.id]
    current = contract
    while current.replaces is not None and current.replaces not in chain:
        current = repository.get_contract(session, current.replaces).contract
        chain.insert(0, current.id)
    current_id: str | None = contract.id
    while current_id is not None:
        current_id = repository.successor_of(session, current_id)
        if current_id is None or current_id in chain:
            break
        chain.append(current_id)
    return chain


def no_workflow(contract_id: str) -> str:
    """Why a contract's workflow does not take commands, in words."""
    with database().session() as session:
        try:
            contract = repository.get_contract(session, contract_id).contract
        except NotFound:
            return f"There is no contract {contract_id}: see {command(Cli.LIST)}."
    if contract.end is not None:
        follows = (
            f"Its next term is contract {contract.successor_id}: see "
            f"{command(Cli.SHOW, contract.successor_id)}."
            if contract.successor_id is not None
            else f"A member who returns continues with a new term: "
            f"{command(Cli.NEW_TERM, from_=contract_id)}."
        )
        return (
            f"Contract {contract_id} ended on {contract.end}; nothing can change it any more. "
            + follows
        )
    return (
        f"Contract {contract_id} has no running workflow. Run {command(Cli.RECONCILE)} or create "
        "it again with the same terms to repair it."
    )


class PreviewEvent(BaseModel):
    date: date
    contract_id: str
    summary: str
    lines: list[dict[str, Any]]
    total: Decimal | None
    deposit: str | None


class Preview(BaseModel):
    contract: Contract
    next_event: str
    pending: str | None
    events: list[PreviewEvent]
    terms: TermsShown
    """The terms in force and the dates they set (§3b)."""


@contracts.command("preview")
def preview(
    contract_id: ContractArgument,
    events: Annotated[int, typer.Option(min=1, max=24, help="How many events to show.")] = 3,
    address: AddressOption = None,
    json: JsonOption = False,
) -> None:
    """What happens next: invoices with every line, pending changes, deposits. Changes nothing."""

    async def go() -> Preview:
        existing_contract_id(contract_id)
        _, view = await live_view(await client(address), contract_id)
        if view is None:
            raise Refused(no_workflow(contract_id))
        return _preview(view.contract, view.next_event, events)

    shown = run(go)
    if json:
        emit_json(shown)
        return
    c = shown.contract
    console.print(f"Contract [bold]{c.id}[/] — {shown.next_event}", highlight=False)
    if shown.pending:
        console.print(f"Pending: {shown.pending}", highlight=False)
    for label, text in term_lines(c, shown.terms):
        console.print(f"{label.capitalize()}: {text}", highlight=False)
    for event in shown.events:
        console.print(f"\n[bold]{event.date}[/] {event.summary}", highlight=False)
        if event.lines:
            table = Table("kind", "period", "amount", box=None)
            for line in event.lines:
                table.add_row(
                    line["kind"],
                    f"{line['period_start']} to {line['period_end']}",
                    format_money(Decimal(line["amount"]), c.currency),
                )
            console.print(table)
        if event.total is not None:
            console.print(f"  total {format_money(event.total, c.currency)}", highlight=False)
        if event.deposit:
            console.print(f"  deposit: {event.deposit}", highlight=False)


def _preview(contract: Contract, next_event: str, events: int) -> Preview:
    """Walk the pure lifecycle forward and read the deposit ledger; nothing is written."""
    if contract.status is ContractStatus.CANCELLED:
        follows = (
            f"its next term is contract {contract.successor_id}: "
            f"{command(Cli.PREVIEW, contract.successor_id)}"
            if contract.successor_id is not None
            else f"a member who returns continues with {command(Cli.NEW_TERM, from_=contract.id)}"
        )
        return Preview(
            contract=contract,
            next_event=f"{next_event} Nothing more happens; {follows}.",
            pending=None,
            events=[],
            terms=terms_shown(contract),
        )
    pending = None
    if contract.scheduled_change is not None:
        target = contract.scheduled_change.next_plan
        pending = f"switch to {target.code}" if target else "cancel at the next invoice date"
    if contract.cancellation is not None:
        flag = "prorated" if contract.cancellation.prorate else "not prorated"
        pending = f"cancellation on {contract.cancellation.date} ({flag})"
    rows = []
    with database().session() as session:
        customer_holds = repository.held_by_customer(session, contract.customer_id)
        for step in lifecycle.upcoming(contract, events=events):
            draft = step.invoice
            lines = [line.model_dump(mode="json") for line in draft.lines] if draft else []
            deposit = None
            if draft is not None and (draft.deposit_due or draft.replaces):
                inherited = (
                    repository.held_by_contract(session, draft.replaces) if draft.replaces else 0
                )
                first = deposits.first_invoice_deposit(
                    required=draft.deposit_due, inherited=Decimal(inherited)
                )
                if first.charge > 0:
                    lines.append(
                        {
                            "kind": LineKind.DEPOSIT.value,
                            "period_start": str(draft.issue_date),
                            "period_end": str(draft.issue_date),
                            "amount": str(first.charge),
                        }
                    )
                deposit = f"{format_money(first.held, contract.currency)} held after this invoice"
            if draft is not None and draft.settle_deposit:
                replaced = (draft.successor_id or step.contract.successor_id) is not None
                deposit = (
                    "passes to the next term"
                    if replaced
                    else f"refund of up to {format_money(customer_holds, contract.currency)} "
                    "unless another contract of the customer is still running"
                )
            total = sum((Decimal(line["amount"]) for line in lines), Decimal(0)) if lines else None
            rows.append(
                PreviewEvent(
                    date=step.day,
                    contract_id=step.contract.id,
                    summary=step.summary,
                    lines=lines,
                    total=total,
                    deposit=deposit,
                )
            )
    return Preview(
        contract=contract,
        next_event=next_event,
        pending=pending,
        events=rows,
        terms=terms_shown(contract),
    )
