"""What the simulation reports: the output models of SPEC §6 (`SimulationResult` and the rows
it lists) and the commands as sent, for the timeline; `read_result` reads them from the billing
database after the run, its dates shifted back.
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from billing.money import minor_units
from store import repository
from store.db import Database
from termshift.services.served_days import check_database
from termshift.simulator.scenario import Scenario
from termshift.simulator.shift import shift_date, shift_text


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class InvoiceLineOut(_Out):
    kind: str
    period_start: dt.date
    period_end: dt.date
    amount: str


class InvoiceOut(_Out):
    contract: str
    date: dt.date
    lines: list[InvoiceLineOut]
    total: str


class ContractOut(_Out):
    id: str
    plan: str
    price: str
    status: str
    start: dt.date
    end: dt.date | None
    replaces: str | None
    commitment_end: dt.date | None
    """R15: the first day after the minimum term (moved by renewals and freezes); None without
    one."""


class DepositOut(_Out):
    customer: str
    held: str


class RejectionOut(_Out):
    on: dt.date
    action: str
    error: str


class EventOut(_Out):
    """An event the run wrote (SPEC §7): its contract, the contract's sequence number, its type
    and its business date."""

    contract: str
    sequence: int
    type: str
    date: dt.date


class ViolationOut(_Out):
    """A breach of R20 (`billing.coverage.Violation`): the days `[start, end)` of a contract that
    are not billed exactly once, or a customer's deposit that does not add up."""

    kind: str
    """`gap`, `overlap`, `uncharged credit`, `wrong amount` or `deposit`."""
    contract: str | None
    """None for a deposit: it is the customer's."""
    customer: str
    start: dt.date | None
    end: dt.date | None
    days: int
    amount: str
    """The money involved: not charged (gap), charged in excess, or held without an invoice."""
    detail: str


class SentCommand(_Out):
    """A command as sent and what came of it, in words (for the timeline; not in the JSON)."""

    on: dt.date
    action: str
    contract: str
    accepted: bool
    message: str
    """The effect of an accepted command, or why it was refused."""
    warnings: tuple[str, ...] = ()


class SimulationResult(BaseModel):
    """What happened. `to_json()` is SPEC §6's output: invoices, contracts, deposits, rejections,
    events, and the breaches of R20 found in the billing database afterwards (none when all is
    right)."""

    invoices: list[InvoiceOut]
    contracts: list[ContractOut]
    deposits: list[DepositOut]
    rejections: list[RejectionOut]
    events: list[EventOut]
    """By date, then contract and sequence (each contract's events in order)."""
    violations: list[ViolationOut]
    commands: list[SentCommand] = Field(default_factory=list, exclude=True)
    """Every command in the order sent, accepted or refused."""
    currency: str = Field(exclude=True)
    until: dt.date = Field(exclude=True)
    shift_years: int = Field(default=0, exclude=True)
    """How far the run was shifted forward (0 for a scenario in the future)."""

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def read_result(
    database: Database,
    scenario: Scenario,
    *,
    customer_ids: Mapping[str, str],
    rejections: Sequence[RejectionOut],
    commands: Sequence[SentCommand],
    years: int,
) -> SimulationResult:
    """What the run of `scenario`, shifted forward by `years`, left in the billing database, with
    the rejections and the commands it kept; `customer_ids` are the customers' ids by name."""
    currency = scenario.currency
    decimals = minor_units(currency)

    def money(amount: Decimal) -> str:
        return f"{amount:.{decimals}f}"

    def back(day: dt.date) -> dt.date:
        return shift_date(day, -years)

    names = {customer_id: name for name, customer_id in customer_ids.items()}
    # R20 over everything the run wrote (termshift.services.served_days); a correct run has none.
    violations = [
        ViolationOut(
            kind=violation.kind.value,
            contract=violation.contract_id,
            customer=names[violation.customer_id],
            start=None if violation.start is None else back(violation.start),
            end=None if violation.end is None else back(violation.end),
            days=violation.days,
            amount=money(violation.amount),
            detail=shift_text(violation.detail, -years),
        )
        for violation in check_database(database)
    ]
    with database.session() as session:
        issued = repository.list_invoices(session)
        contracts = [record.contract for record in repository.list_contracts(session)]
        held = {
            customer_id: repository.held_by_customer(session, customer_id) for customer_id in names
        }
        stored_events = repository.list_events(session)
    events = sorted(
        (
            EventOut(
                contract=event.contract_id,
                sequence=event.sequence,
                type=event.type.value,
                date=back(event.business_date),
            )
            for event in stored_events
        ),
        key=lambda event: (event.date, event.contract, event.sequence),
    )
    invoices = [
        InvoiceOut(
            contract=invoice.contract_id,
            date=back(invoice.issue_date),
            lines=[
                InvoiceLineOut(
                    kind=line.kind.value,
                    period_start=back(line.period_start),
                    period_end=back(line.period_end),
                    amount=money(line.amount),
                )
                for line in invoice.lines
            ],
            total=money(invoice.total),
        )
        for invoice in issued
    ]
    invoices.sort(key=lambda invoice: (invoice.date, invoice.contract))
    shown = [
        ContractOut(
            id=contract.id,
            plan=contract.plan.code,
            price=money(contract.price),
            status=contract.status.value,
            start=back(contract.start),
            end=None if contract.end is None else back(contract.end),
            replaces=contract.replaces,
            commitment_end=None
            if contract.commitment_end is None
            else back(contract.commitment_end),
        )
        for contract in contracts
    ]
    shown.sort(key=lambda contract: (contract.start, contract.id))
    deposits = sorted(
        (
            DepositOut(customer=names[customer_id], held=money(amount))
            for customer_id, amount in held.items()
        ),
        key=lambda deposit: deposit.customer,
    )
    return SimulationResult(
        invoices=invoices,
        contracts=shown,
        deposits=deposits,
        rejections=list(rejections),
        events=events,
        violations=violations,
        commands=list(commands),
        currency=currency,
        until=scenario.until,
        shift_years=years,
    )
