"""`contracts`: create a contract and its workflow together, inspect and steer it."""

import re
import secrets
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import typer
from sqlalchemy.orm import Session
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from billing import lifecycle, term_dates
from billing.calendar import local_date, read_iso_date
from billing.commands import Cli, command
from billing.contract import Command, Contract, ContractStatus, new_contract
from billing.errors import BillingError
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
    print_listing,
    requested,
    run,
)
from termshift.cli._terms import (
    MaxFreezeCyclesOption,
    MaxFreezesPerYearOption,
    MinimumTermOption,
    NoticeOption,
    RenewalOption,
    given_terms,
    with_terms,
)
from termshift.services.contracts import ContractNotCreated, ContractNotRecordedYet, create_contract
from termshift.settings import Settings
from termshift.temporal import CONTRACT_ID, SEARCH_ATTRIBUTES
from workflows import workflow_id
from workflows.messages import ContractView

contracts = typer.Typer(help="Contracts: each one a durable workflow.", no_args_is_help=True)

REGISTRATION_TIMEOUT = 30.0


def _parse_date(text: str | None, what: str, *, timezone: str | None = None) -> date | None:
    return None if text is None else required_date(text, what, timezone=timezone)


_CONTRACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


RELATIVE_DAYS = {"yesterday": -1, "today": 0, "tomorrow": 1}
"""Words a date option also takes: days relative to today in the location's timezone (R3)."""


def required_date(text: str, what: str, *, timezone: str | None = None) -> date:
    """A date written as YYYY-MM-DD, and only so (not 20270115, 2027-W03-5 or other digits) —
    or, where the location is known (`timezone`), `today`, `tomorrow` or `yesterday` there."""
    if timezone is not None and text in RELATIVE_DAYS:
        return local_date(datetime.now(UTC), timezone) + timedelta(days=RELATIVE_DAYS[text])
    try:
        return read_iso_date(text)
    except BillingError as error:
        words = ", or today, tomorrow or yesterday." if timezone is not None else "."
        raise Refused(f"{what} {str(error).removesuffix('.')}{words}") from None


def shorten(text: str, limit: int = 80) -> str:
    """Input echoed in a message, cut to a readable length."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def existing_contract_id(text: str) -> str:
    """A contract id as given on the command line; one that no contract can have is refused."""
    if _CONTRACT_ID.fullmatch(text) is None:
        raise Refused(
            f"There is no contract {shorten(text)!r}: a contract id is 1 to 64 letters, digits, "
            f"'.', '_' or '-'. See {command(Cli.LIST)}."
        )
    return text


@contracts.command("create")
def create(
    customer: Annotated[str, typer.Option(help="Customer id.")],
    plan: Annotated[str, typer.Option(help="Plan code (of the customer's location).")],
    start: Annotated[
        str, typer.Option(help="Start date, YYYY-MM-DD (or today, tomorrow, yesterday).")
    ],
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
    notice: NoticeOption = None,
    minimum_term: MinimumTermOption = None,
    renewal: RenewalOption = None,
    max_freeze_cycles: MaxFreezeCyclesOption = None,
    max_freezes_per_year: MaxFreezesPerYearOption = None,
    address: AddressOption = None,
    actor: ActorOption = None,
    reason: ReasonOption = "",
    json: JsonOption = False,
) -> None:
    """Create a contract: its row and its workflow come into being together. Its terms are the
    plan's, with each one given here in its place (§3b)."""
    who = requested(actor, reason)

    async def go() -> ContractView:
        given = given_terms(
            notice=notice,
            minimum_term=minimum_term,
            renewal=renewal,
            max_freeze_cycles=max_freeze_cycles,
            max_freezes_per_year=max_freezes_per_year,
        )
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
                terms=given,
                relative_dates=True,
            )
            new_or_same(session, contract)
        return await _start(await client(address), contract, who)

    view = run(go)
    if json:
        emit_json(view)
    else:
        c = view.contract
        today = local_date(datetime.now(UTC), c.timezone)
        # The view is the one at registration, before the workflow catches up on past dates.
        what = (
            view.next_event
            if c.start > today
            else f"Started on {c.start}: every invoice due up to today is issued now "
            f"({command(Cli.SHOW, c.id)})."
        )
        terms = (
            f"Terms: {c.terms.describe()}"
            + (f"; committed until {c.commitment_end}" if c.commitment_end else "")
            + ".\n"
            if c.terms.any
            else ""
        )
        console.print(
            f"Created contract [bold]{c.id}[/] for {c.customer_id} on {c.plan.code} at "
            f"{format_money(c.price, c.currency)}; workflow {workflow_id(c.id)} is running.\n"
            f"{terms}{what}",
            highlight=False,
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
    terms: Mapping[str, object] | None = None,
    relative_dates: bool = False,
) -> Contract:
    """A new contract from its terms as typed, checked against the catalog; `Refused`,
    `NotFound` or a pydantic `ValidationError` say what is wrong. `terms`: those given for the
    contract (`termshift.cli._terms.given_terms`), in place of the plan's. `relative_dates`:
    the dates may also be `today`, `tomorrow` or `yesterday` at the customer's location."""
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
    zone = site.timezone if relative_dates else None
    return new_contract(
        id=id,
        customer_id=buyer.id,
        location=site,
        plan=tariff,
        start=required_date(start, "Start date", timezone=zone),
        price=None if price is None else amount_text(price),
        anchor=_parse_date(anchor, "Anchor", timezone=zone),
        prorate_first_invoice=prorate_first_invoice,
        terms=with_terms(tariff.terms, terms or {}),
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
    fields = ("customer_id", "start", "anchor", "price", "prorate_first_invoice", "terms")
    if stored.plan.code != wanted.plan.code or any(
        getattr(stored, name) != getattr(wanted, name) for name in fields
    ):
        raise Refused(
            f"Contract {stored.id} exists with other terms: choose another id, "
            f"or {command(Cli.SHOW, stored.id)}."
        )
    if stored.status is ContractStatus.CANCELLED:
        raise Refused(f"Contract {stored.id} exists and has ended; it cannot be created again.")


async def _start(temporal: Client, contract: Contract, who: Command) -> ContractView:
    try:
        return await create_contract(
            temporal,
            contract,
            who,
            task_queue=Settings().task_queue,
            timeout=REGISTRATION_TIMEOUT,
        )
    except ContractNotCreated as error:
        raise Refused(str(error)) from None
    except ContractNotRecordedYet as error:
        raise Failed(str(error)) from None


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
    commitment_ends_before: Annotated[
        str | None,
        typer.Option(
            "--commitment-ends-before",
            help="Only contracts whose commitment (R15) ends before this date, YYYY-MM-DD.",
        ),
    ] = None,
    frozen: Annotated[
        bool, typer.Option("--frozen", help="Only contracts with a freeze scheduled or running.")
    ] = False,
    price_scheduled: Annotated[
        bool,
        typer.Option("--price-scheduled", help="Only contracts with a price change scheduled."),
    ] = False,
    address: AddressOption = None,
    json: JsonOption = False,
) -> None:
    """List stored contracts; --query selects them through the workflows' search attributes,
    the other options by what is stored."""
    with handled():
        before = _parse_date(commitment_ends_before, "--commitment-ends-before")
    matching = None if query is None else run(lambda: _matching_contract_ids(query, address))
    with handled(), database().session() as session:
        rows = [
            record.contract
            for record in repository.list_contracts(
                session, customer_id=customer, location_id=location, status=status
            )
            if (matching is None or record.contract.id in matching)
            and _selected(
                record.contract,
                commitment_ends_before=before,
                frozen=frozen,
                price_scheduled=price_scheduled,
            )
        ]
        if json:
            emit_json(rows)
            return
        # The commitment end only when a contract shown has one: one without terms reads as before.
        committed = any(c.commitment_end is not None for c in rows)
        headers = ("id", "customer", "plan", "price", "status", "start", "next invoice", "ends")
        print_listing(
            (*headers, "commitment end") if committed else headers,
            (
                (
                    c.id,
                    c.customer_id,
                    c.plan.code,
                    format_money(c.price, c.currency),
                    c.status.value,
                    str(c.start),
                    str(lifecycle.upcoming_invoice_date(c) or "—"),
                    str(lifecycle.term_end(c) or "—"),
                    *((str(c.commitment_end or "—"),) if committed else ()),
                )
                for c in rows
            ),
            drop=("start", "customer", "price"),
            right=("price",),
        )


def _selected(
    contract: Contract,
    *,
    commitment_ends_before: date | None,
    frozen: bool,
    price_scheduled: bool,
) -> bool:
    """Whether the stored contract passes the filters of `contracts list` on its terms."""
    commitment = contract.commitment_end
    return (
        (
            commitment_ends_before is None
            or (commitment is not None and commitment < commitment_ends_before)
        )
        and (not frozen or term_dates.current_freeze(contract) is not None)
        and (not price_scheduled or contract.scheduled_price is not None)
    )
