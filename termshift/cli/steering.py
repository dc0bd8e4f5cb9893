"""Steering a running contract: plan changes, cancellations, new terms, and a preview of it all.

Each command is one update on the contract's workflow; the workflow validates it before it enters
history and answers with what it did. Nothing here writes to the database.
"""

from collections.abc import Callable
from contextlib import suppress
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.table import Table
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from billing import deposits, lifecycle
from billing.contract import Command, Contract, LineKind
from billing.money import format_money, parse_amount
from billing.rules import RejectionCode
from store import repository
from store.errors import NotFound
from store.models import ID_LENGTH
from termshift.cli._common import (
    ActorOption,
    AddressOption,
    Failed,
    JsonOption,
    ReasonOption,
    Refused,
    amount_text,
    client,
    console,
    database,
    emit_json,
    handled,
    requested,
    run,
)
from termshift.cli.contracts import contracts, existing_contract_id, live_view, required_date
from termshift.contracts import BUSY_RETRY_SECONDS, send_command
from workflows import workflow_id
from workflows.messages import (
    Cancel,
    CancelAtNextInvoice,
    ClearChange,
    CommandResult,
    NewTerm,
    ScheduleChange,
    Switch,
    Uncancel,
)

ContractArgument = Annotated[str, typer.Argument(help="Contract id.")]
REFUSALS = frozenset(code.value for code in RejectionCode) | {"registration_failed"}


async def _send(contract_id: str, update: str, message: Command, address: str | None) -> Any:
    """Execute the update on the contract's workflow; refusals become exit code 2."""
    try:
        return await send_command(await client(address), contract_id, update, message)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and (cause.type in REFUSALS or cause.non_retryable):
            raise Refused(cause.message) from None
        raise Failed(str(cause or error)) from None
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise Refused(_no_workflow(contract_id)) from None
        if error.status is RPCStatusCode.RESOURCE_EXHAUSTED:
            raise Failed(
                f"Contract {contract_id} is busy with other commands (retried for "
                f"{BUSY_RETRY_SECONDS:.0f} s); nothing changed. Try again in a moment."
            ) from None
        raise


def _no_workflow(contract_id: str) -> str:
    """Why a contract's workflow does not take commands, in words."""
    with database().session() as session:
        try:
            contract = repository.get_contract(session, contract_id).contract
        except NotFound:
            return f"There is no contract {contract_id}: see `contracts list`."
    if contract.end is not None:
        return (
            f"Contract {contract_id} ended on {contract.end}; nothing can change it any more. "
            f"Create a new contract with `contracts create`."
        )
    return (
        f"Contract {contract_id} has no running workflow. Run `reconcile` or create it again with "
        "the same terms to repair it."
    )


def _steer(
    contract_id: str,
    update: str,
    build: Callable[[Command], Command],
    *,
    address: str | None,
    actor: str | None,
    reason: str,
    as_json: bool,
) -> None:
    """Build the command's message (refusing bad input), send it, and print what it did."""
    who = requested(actor, reason)
    with handled():
        existing_contract_id(contract_id)
    _report(run(lambda: _send(contract_id, update, build(who), address)), as_json)


def _report(result: CommandResult, as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    console.print(result.effect, highlight=False)
    for warning in result.warnings:
        console.print(f"[bold yellow]Warning:[/] {warning}", highlight=False)
    if result.successor is not None:
        console.print(
            f"New term: contract [bold]{result.successor.id}[/], workflow "
            f"{workflow_id(result.successor.id)}.",
            highlight=False,
        )
    console.print(f"Next: {result.view.next_event}", highlight=False)


@contracts.command("change")
def change(
    contract_id: ContractArgument,
    next_plan: Annotated[str, typer.Option("--next-plan", help="Plan to switch to.")],
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Switch plan on the next invoice date (automated change, R5); run again to replace it."""
    _steer(
        contract_id,
        "schedule_change",
        lambda who: ScheduleChange(next_plan=_plan(next_plan), **who.model_dump()),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


@contracts.command("cancel-at-next-invoice")
def cancel_at_next_invoice(
    contract_id: ContractArgument,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """End the contract on its next invoice date (R6; not the recommended way to cancel)."""
    _steer(
        contract_id,
        "cancel_at_next_invoice",
        lambda who: CancelAtNextInvoice(**who.model_dump()),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


@contracts.command("clear-change")
def clear_change(
    contract_id: ContractArgument,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Undo a pending plan change or end-of-term cancellation."""
    _steer(
        contract_id,
        "clear_change",
        lambda who: ClearChange(**who.model_dump()),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


ProrateOption = Annotated[
    bool,
    typer.Option(
        "--prorate/--no-prorate",
        help="Credit the unserved days, or prorate the last invoice (R7).",
    ),
]


@contracts.command("cancel")
def cancel(
    contract_id: ContractArgument,
    on: Annotated[str, typer.Option("--date", help="Cancellation date: the first day not served.")],
    prorate: ProrateOption = False,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Cancel on a date (manual cancellation, R7)."""
    _steer(
        contract_id,
        "cancel",
        lambda who: Cancel(
            date=required_date(on, "Cancellation date"), prorate=prorate, **who.model_dump()
        ),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


@contracts.command("uncancel")
def uncancel(
    contract_id: ContractArgument,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Undo a manual cancellation while its date is still ahead."""
    _steer(
        contract_id,
        "uncancel",
        lambda who: Uncancel(**who.model_dump()),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


@contracts.command("new-term")
def new_term(
    from_id: Annotated[str, typer.Option("--from", help="The contract the new term continues.")],
    plan: Annotated[str | None, typer.Option(help="Plan (default: the same).")] = None,
    start: Annotated[
        str | None, typer.Option(help="Start date (default: the cancellation date).")
    ] = None,
    price: Annotated[str | None, typer.Option(help="Custom price (default: the plan's).")] = None,
    anchor: Annotated[
        str | None, typer.Option(help="Billing anchor (default: the old contract's).")
    ] = None,
    prorate_first_invoice: Annotated[
        bool,
        typer.Option("--prorate-first-invoice", help="Prorate the first stub period (R8)."),
    ] = False,
    id: Annotated[str | None, typer.Option("--id", help="New contract id.")] = None,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Create the next term of a cancelled contract (the manual change's second step, R8)."""
    _steer(
        from_id,
        "new_term",
        lambda who: NewTerm(
            id=id,
            plan=None if plan is None else _plan(plan),
            start=None if start is None else required_date(start, "Start date"),
            price=None if price is None else _price(from_id, price),
            anchor=None if anchor is None else required_date(anchor, "Anchor"),
            prorate_first_invoice=prorate_first_invoice,
            **who.model_dump(),
        ),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


@contracts.command("switch")
def switch(
    contract_id: ContractArgument,
    to: Annotated[str, typer.Option("--to", help="Plan of the new term.")],
    on: Annotated[str, typer.Option("--on", help="Date the new plan starts (old one ends).")],
    prorate: Annotated[
        bool,
        typer.Option(
            "--prorate/--no-prorate",
            help="Credit the old plan's unserved days and prorate the new plan's first invoice.",
        ),
    ] = False,
    price: Annotated[str | None, typer.Option(help="Custom price of the new term.")] = None,
    id: Annotated[str | None, typer.Option("--id", help="New contract id.")] = None,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Manual change in one step: cancel on a date and continue on another plan, all or nothing."""
    _steer(
        contract_id,
        "switch",
        lambda who: Switch(
            to_plan=_plan(to),
            on=required_date(on, "Switch date"),
            prorate=prorate,
            id=id,
            price=None if price is None else _price(contract_id, price),
            **who.model_dump(),
        ),
        address=address,
        actor=actor,
        reason=reason,
        as_json=json,
    )


def _plan(code: str) -> str:
    """A plan code that exists: refused here, before the command enters the workflow's history
    (the workflow checks the plan's location and currency against the contract's)."""
    if len(code) <= ID_LENGTH:
        with database().session() as session:
            repository.get_plan(session, code)
    return code


def _price(contract_id: str, text: str) -> Decimal:
    """A custom price in the contract's currency: finite, above zero, at most its decimals."""
    currency = None
    with database().session() as session, suppress(NotFound):  # then: "no such contract"
        currency = repository.get_contract(session, contract_id).contract.currency
    if currency is None:
        try:
            return Decimal(amount_text(text))
        except ArithmeticError:
            raise Refused(f"{text!r} is not an amount: write it like 1500.00.") from None
    return parse_amount(amount_text(text), currency)


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
            raise Refused(_no_workflow(contract_id))
        return _preview(view.contract, view.next_event, events)

    shown = run(go)
    if json:
        emit_json(shown)
        return
    c = shown.contract
    console.print(f"Contract [bold]{c.id}[/] — {shown.next_event}", highlight=False)
    if shown.pending:
        console.print(f"Pending: {shown.pending}", highlight=False)
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
    return Preview(contract=contract, next_event=next_event, pending=pending, events=rows)
