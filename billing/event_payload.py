"""What an event says (SPEC §7): the state after its effect, as a versioned JSON document.

`EventPayload` is the document every event carries; `docs/EVENTS.md` describes it for consumers.
Amounts are strings in the currency's minor unit ("-354.84", "16129" for JPY), dates ISO. A change
to its shape is a new `PAYLOAD_VERSION`. `billing.events` decides which events an effect writes
and builds their payloads with `contract_state` and `invoice_state`.
"""

from datetime import date
from decimal import Decimal
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from billing.contract import (
    ChangeKind,
    Contract,
    ContractStatus,
    InvoiceLine,
    InvoicePurpose,
    LineKind,
)
from billing.money import minor_units, round_money

PAYLOAD_VERSION: Literal[1] = 1
"""The shape of `EventPayload`; a consumer reads the `version` before anything else."""


class Invoice(Protocol):
    """What an event says of an invoice (`store.records.IssuedInvoice` is one)."""

    @property
    def number(self) -> str: ...
    @property
    def issue_date(self) -> date: ...
    @property
    def purpose(self) -> InvoicePurpose: ...
    @property
    def currency(self) -> str: ...
    @property
    def total(self) -> Decimal: ...
    @property
    def lines(self) -> tuple[InvoiceLine, ...]: ...


class _State(BaseModel):
    model_config = ConfigDict(frozen=True)


class CancellationState(_State):
    date: date
    """The first day not served (R3)."""
    prorate: bool
    charge_remaining_term: bool


class ChangeState(_State):
    kind: ChangeKind
    next_plan: str | None
    price: str | None
    """The next term's price (R19); None: the next plan's."""


class PriceState(_State):
    price: str
    effective: date


class FreezeState(_State):
    start: date
    end: date
    cycles: int


class ContractState(_State):
    """A contract as an event reports it: its state after the effect."""

    id: str
    customer_id: str
    location_id: str
    currency: str
    timezone: str
    plan: str
    price: str
    custom_price: bool
    status: ContractStatus
    start: date
    anchor: date
    next_invoice_date: date | None
    billed_through: date | None
    end: date | None
    replaces: str | None
    successor_id: str | None
    commitment_end: date | None
    cancellation: CancellationState | None
    scheduled_change: ChangeState | None
    scheduled_price: PriceState | None
    freezes: tuple[FreezeState, ...]


class LineState(_State):
    kind: LineKind
    period_start: date
    period_end: date
    amount: str
    description: str


class InvoiceState(_State):
    number: str
    issue_date: date
    purpose: InvoicePurpose
    currency: str
    total: str
    lines: tuple[LineState, ...]


class DepositState(_State):
    movement: Literal["charge", "refund"]
    amount: str
    """What was charged or refunded: positive."""
    currency: str


class CommandState(_State):
    name: str
    actor: str
    reason: str
    refusal: str | None
    """Why it was refused (`command.refused`); None for an accepted command."""


class EventPayload(_State):
    """What every event carries; the parts that do not concern it are null."""

    version: Literal[1] = PAYLOAD_VERSION
    contract: ContractState
    invoice: InvoiceState | None = None
    deposit: DepositState | None = None
    command: CommandState | None = None


def money(amount: Decimal, currency: str) -> str:
    """An amount as events write it: in the currency's minor unit, no grouping ("-354.84")."""
    return f"{round_money(amount, currency):.{minor_units(currency)}f}"


def contract_state(contract: Contract) -> ContractState:
    currency = contract.currency
    cancellation, change, price = (
        contract.cancellation,
        contract.scheduled_change,
        contract.scheduled_price,
    )
    return ContractState(
        id=contract.id,
        customer_id=contract.customer_id,
        location_id=contract.location.id,
        currency=currency,
        timezone=contract.timezone,
        plan=contract.plan.code,
        price=money(contract.price, currency),
        custom_price=contract.custom_price,
        status=contract.status,
        start=contract.start,
        anchor=contract.anchor,
        next_invoice_date=contract.next_invoice_date,
        billed_through=contract.billed_through,
        end=contract.end,
        replaces=contract.replaces,
        successor_id=contract.successor_id,
        commitment_end=contract.commitment_end,
        cancellation=None
        if cancellation is None
        else CancellationState(
            date=cancellation.date,
            prorate=cancellation.prorate,
            charge_remaining_term=cancellation.charge_remaining_term,
        ),
        scheduled_change=None
        if change is None
        else ChangeState(
            kind=change.kind,
            next_plan=None if change.next_plan is None else change.next_plan.code,
            price=None if change.price is None else money(change.price, currency),
        ),
        scheduled_price=None
        if price is None
        else PriceState(price=money(price.price, currency), effective=price.effective),
        freezes=tuple(
            FreezeState(start=freeze.start, end=freeze.end, cycles=freeze.cycles)
            for freeze in contract.freezes
        ),
    )


def invoice_state(invoice: Invoice) -> InvoiceState:
    currency = invoice.currency
    return InvoiceState(
        number=invoice.number,
        issue_date=invoice.issue_date,
        purpose=invoice.purpose,
        currency=currency,
        total=money(invoice.total, currency),
        lines=tuple(
            LineState(
                kind=line.kind,
                period_start=line.period_start,
                period_end=line.period_end,
                amount=money(line.amount, currency),
                description=line.description,
            )
            for line in invoice.lines
        ),
    )
