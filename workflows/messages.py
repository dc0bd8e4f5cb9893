"""What goes in and out of a contract workflow: its input, its live view and the admin commands."""

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from billing.contract import Command, Contract


class RefusedCommand(BaseModel):
    """A command the workflow refused, kept where an admin sees it (query and audit log)."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    command: str
    actor: str
    message: str


class ContractInput(BaseModel):
    """The workflow's input, and what continue-as-new carries: the whole state."""

    contract: Contract
    created: Command = Field(default_factory=lambda: Command(actor="termshift"))
    """Who created the contract and why (written to the audit log with the row)."""
    registered: bool = False
    """Whether the contract's row exists in the billing database."""
    refused: tuple[RefusedCommand, ...] = ()
    invoices_issued: int = 0


class ContractView(BaseModel):
    """The workflow's live state, as the `state` query and the commands return it."""

    contract: Contract
    next_event_date: date | None
    next_event: str
    """In words: what happens on the next event date."""
    next_invoice_date: date | None
    """The next invoice that bills a period (None once the contract ends before one)."""
    registered: bool
    invoices_issued: int
    refused: tuple[RefusedCommand, ...]
    warnings: tuple[str, ...] = ()


class CommandResult(BaseModel):
    """What an admin command did: the effect in words, warnings, and the contract after it."""

    effect: str
    warnings: tuple[str, ...] = ()
    view: ContractView
    successor: Contract | None = None
    """The new term a `new_term` or `switch` created."""


class ScheduleChange(Command):
    """R5: switch to `next_plan` on the next invoice date."""

    next_plan: str = Field(min_length=1, max_length=64)


class CancelAtNextInvoice(Command):
    """R6: end the contract on its next invoice date."""


class ClearChange(Command):
    """Undo a scheduled change or end-of-term cancellation."""


class Cancel(Command):
    """R7: end the contract at 00:00 on `date`, crediting or prorating if `prorate`."""

    date: date
    prorate: bool = False


class Uncancel(Command):
    """Undo a manual cancellation whose date is still ahead."""


class NewTerm(Command):
    """R8: a new inactive contract that continues this one (the manual change's second step).

    Every field has the seed platform's default: the same plan, that plan's price, the start on
    this contract's cancellation date, this contract's billing anchor, no prorated first invoice.
    """

    id: str | None = Field(default=None, max_length=64)
    plan: str | None = Field(default=None, max_length=64)
    start: date | None = None
    price: Decimal | None = None
    anchor: date | None = None
    prorate_first_invoice: bool = False


class Switch(Command):
    """The manual change in one step: cancel on `on` and continue with a new term on `to_plan`.

    `prorate` applies both of the seed's toggles: the cancelled period is credited or its last
    invoice prorated (R7), and the new term's first invoice is prorated (R8).
    """

    to_plan: str = Field(min_length=1, max_length=64)
    on: date
    prorate: bool = False
    id: str | None = Field(default=None, max_length=64)
    price: Decimal | None = None
