"""What the simulation reports: the output models of SPEC §6 (`SimulationResult` and the rows
it lists) and the commands as sent, for the timeline.
"""

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
