"""`contracts`: create a contract and its workflow together, inspect and steer it."""

import re
import secrets
from datetime import date
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.table import Table
from sqlalchemy.orm import Session
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from billing import lifecycle
from billing.contract import Command, Contract, ContractStatus, new_contract
from billing.money import format_money
from store import repository
from store.errors import NotFound
from store.records import ContractRecord
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
from termshift.contracts import ContractNotCreated, ContractNotRecordedYet, create_contract
from termshift.settings import Settings
from termshift.temporal import CONTRACT_ID, SEARCH_ATTRIBUTES
from workflows import ContractWorkflow, workflow_id
from workflows.messages import ContractView

contracts = typer.Typer(help="Contracts: each one a durable workflow.", no_args_is_help=True)

REGISTRATION_TIMEOUT = 30.0


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
    refused: list[dict[str, Any]]


def _parse_date(text: str | None, what: str) -> date | None:
    return None if text is None else required_date(text, what)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CONTRACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def required_date(text: str, what: str) -> date:
    """A date written as YYYY-MM-DD, and only so (not 20270115, 2027-W03-5 or other digits)."""
    try:
        if _ISO_DATE.fullmatch(text) is None:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise Refused(f"{what} {shorten(text)!r} is not a date: write it as YYYY-MM-DD.") from None


def shorten(text: str, limit: int = 80) -> str:
    """Input echoed in a message, cut to a readable length."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def existing_contract_id(text: str) -> str:
    """A contract id as given on the command line; one that no contract can have is refused."""
    if _CONTRACT_ID.fullmatch(text) is None:
        raise Refused(
            f"There is no contract {shorten(text)!r}: a contract id is 1 to 64 letters, digits, "
            "'.', '_' or '-'. See `contracts list`."
        )
    return text


@contracts.command("create")
def create(
    customer: Annotated[str, typer.Option(help="Customer id.")],
    plan: Annotated[str, typer.Option(help="Plan code (of the customer's location).")],
    start: Annotated[str, typer.Option(help="Start date, YYYY-MM-DD.")],
    id: Annotated[
        str | None, typer.Option("--id", help="Contract id (default: generated).")
    ] = None,
    price: Annotated[
        str | None, typer.Option(help="Custom price (default: the plan's price).")
    ] = None,
    anchor: Annotated[
        str | None,
        typer.Option(help="Billing anchor, YYYY-MM-DD: periods align to its day (default: start)."),
    ] = None,
    prorate_first_invoice: Annotated[
        bool,
        typer.Option(
            "--prorate-first-invoice/--full-first-invoice",
            help="Prorate the first stub period (R8); the plan must allow it.",
        ),
    ] = False,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Create a contract: its row and its workflow come into being together."""
    command = requested(actor, reason)

    async def go() -> ContractView:
        db = database()
        with db.session() as session:
            contract = contract_terms(
                session,
                id=id or f"c-{secrets.token_hex(4)}",
                customer=customer,
                plan=plan,
                start=start,
                price=price,
                anchor=anchor,
                prorate_first_invoice=prorate_first_invoice,
            )
            new_or_same(session, contract)
        return await _start(await client(address), contract, command)

    view = run(go)
    if json:
        emit_json(view)
    else:
        c = view.contract
        console.print(
            f"Created contract [bold]{c.id}[/] for {c.customer_id} on {c.plan.code} at "
            f"{format_money(c.price, c.currency)}; workflow {workflow_id(c.id)} is running.\n"
            f"{view.next_event}"
        )


def contract_terms(
    session: Session,
    *,
    id: str,
    customer: str,
    plan: str,
    start: str,
    price: str | None,
    anchor: str | None,
    prorate_first_invoice: bool,
) -> Contract:
    """A new contract from its terms as typed, checked against the catalog; `Refused`,
    `NotFound` or a pydantic `ValidationError` say what is wrong."""
    buyer = repository.get_customer(session, customer)
    tariff = repository.get_plan(session, plan)
    site = repository.get_location(session, buyer.location_id)
    if tariff.location_id != site.id:
        raise Refused(
            f"Plan {tariff.code} belongs to location {tariff.location_id}, but customer "
            f"{buyer.id} is at {site.id}: choose a plan of {site.id}."
        )
    if prorate_first_invoice and not tariff.prorate_first_invoice:
        raise Refused(
            f"Plan {tariff.code} does not allow a prorated first invoice: bill it in full "
            "(--full-first-invoice; in an import file, prorate_first_invoice false)."
        )
    return new_contract(
        id=id,
        customer_id=buyer.id,
        location=site,
        plan=tariff,
        start=required_date(start, "Start date"),
        price=None if price is None else amount_text(price),
        anchor=_parse_date(anchor, "Anchor"),
        prorate_first_invoice=prorate_first_invoice,
    )


def new_or_same(session: Session, contract: Contract) -> bool:
    """True if no contract has the id; False if the same contract is recorded (a repeated
    create or import finishes what an interrupted one began); `Refused` otherwise."""
    existing = _find(session, contract.id)
    if existing is None:
        return True
    _same_or_refuse(existing.contract, contract)
    return False


def _find(session: Session, contract_id: str) -> ContractRecord | None:
    try:
        return repository.get_contract(session, contract_id)
    except NotFound:
        return None


def _same_or_refuse(stored: Contract, wanted: Contract) -> None:
    """Creating again with the same terms repairs a half-done create; other terms are refused."""
    fields = ("customer_id", "start", "anchor", "price", "prorate_first_invoice")
    if stored.plan.code != wanted.plan.code or any(
        getattr(stored, name) != getattr(wanted, name) for name in fields
    ):
        raise Refused(
            f"Contract {stored.id} exists with other terms: choose another id, "
            f"or `contracts show {stored.id}`."
        )
    if stored.status is ContractStatus.CANCELLED:
        raise Refused(f"Contract {stored.id} exists and has ended; it cannot be created again.")


async def _start(temporal: Client, contract: Contract, command: Command) -> ContractView:
    try:
        return await create_contract(
            temporal,
            contract,
            command,
            task_queue=Settings().task_queue,
            timeout=REGISTRATION_TIMEOUT,
        )
    except ContractNotCreated as error:
        raise Refused(str(error)) from None
    except ContractNotRecordedYet as error:
        raise Failed(str(error)) from None


async def live_view(temporal: Client, contract_id: str) -> tuple[str, ContractView | None]:
    """The workflow's status and, while it runs (or once it completed), its view."""
    handle = temporal.get_workflow_handle(workflow_id(contract_id))
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
    contract_id: Annotated[str, typer.Argument(help="Contract id.")],
    address: AddressOption = None,
    json: JsonOption = False,
) -> None:
    """Show a contract: stored terms joined with its workflow's live state and its lineage."""

    async def go() -> ContractShown:
        existing_contract_id(contract_id)
        with database().session() as session:
            record = repository.get_contract(session, contract_id)
            lineage = _lineage(session, record.contract)
        status, view = await live_view(await client(address), contract_id)
        contract = view.contract if view is not None else record.contract
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
            refused=[item.model_dump(mode="json") for item in (view.refused if view else ())],
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
    if c.end is not None:
        table.add_row("ended", str(c.end))
    table.add_row("terms", " → ".join(shown.lineage))
    table.add_row("workflow", f"{shown.workflow_id} ({shown.workflow_status})")
    console.print(table)
    for item in shown.refused:
        console.print(f"[yellow]refused[/] {item['at']} {item['command']}: {item['message']}")


async def _matching_contract_ids(query: str, address: str | None) -> set[str]:
    """Ids of the contracts whose workflows match the visibility query."""
    temporal = await client(address)
    ids: set[str] = set()
    try:
        async for execution in temporal.list_workflows(f"WorkflowType = 'Contract' AND ({query})"):
            contract_id = execution.typed_search_attributes.get(CONTRACT_ID)
            if contract_id is not None:
                ids.add(contract_id)
    except RPCError as error:
        if error.status is RPCStatusCode.INVALID_ARGUMENT:
            raise Refused(
                f"The visibility query is not valid: {error.message}. Search attributes: "
                + ", ".join(key.name for key in SEARCH_ATTRIBUTES)
                + "."
            ) from None
        raise
    return ids


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


@contracts.command("list")
def list_contracts(
    customer: Annotated[str | None, typer.Option(help="Only this customer's.")] = None,
    location: Annotated[str | None, typer.Option(help="Only this location's.")] = None,
    status: Annotated[
        ContractStatus | None, typer.Option(help="Only contracts in this status.")
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            help="Temporal visibility query on the search attributes, e.g. "
            "\"NextPlanCode = 'office' AND NextInvoiceAt < '2027-04-01T00:00:00Z'\".",
        ),
    ] = None,
    address: AddressOption = None,
    json: JsonOption = False,
) -> None:
    """List stored contracts; --query selects them through the workflows' search attributes."""
    matching = None if query is None else run(lambda: _matching_contract_ids(query, address))
    with handled(), database().session() as session:
        rows = [
            record.contract
            for record in repository.list_contracts(
                session, customer_id=customer, location_id=location, status=status
            )
            if matching is None or record.contract.id in matching
        ]
        if json:
            emit_json(rows)
            return
        table = Table("id", "customer", "plan", "price", "status")
        for column in ("start", "next invoice", "ends"):
            table.add_column(column, no_wrap=True)
        for c in rows:
            ends = c.end or (c.cancellation.date if c.cancellation else None)
            table.add_row(
                c.id,
                c.customer_id,
                c.plan.code,
                format_money(c.price, c.currency),
                c.status.value,
                str(c.start),
                str(lifecycle.upcoming_invoice_date(c) or "—"),
                str(ends or "—"),
            )
        console.print(table)
