"""The contract domain: locations, plans, contracts and the invoices they produce.

These are plain, immutable values. The workflow carries a `Contract` as its whole state (it is the
continue-as-new input), and activities turn `InvoiceDraft`s into rows.

They are also what workflow histories, activity payloads and stored snapshots hold, for as long as
a contract runs: decoding them is tolerant. A field this code does not know is ignored (a newer
version wrote it, and a rollback must still read it), and nothing that changes over the years is
checked on decode — a location's currency and timezone are checked where a location is created
(`Location.new`), not each time a contract that uses it is read.
"""

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from billing.cadence import parse_cadence
from billing.calendar import zone
from billing.money import normalize_currency, parse_amount


def _cadence_text(value: str) -> str:
    return str(parse_cadence(value))


def _timezone_name(value: str) -> str:
    zone(value)
    return value


CadenceText = Annotated[str, AfterValidator(_cadence_text)]
CurrencyCode = Annotated[str, AfterValidator(normalize_currency)]
"""A currency a new location may use (checked where input enters: CLI, scenarios)."""
TimezoneName = Annotated[str, AfterValidator(_timezone_name)]
"""A timezone that exists in the pinned time-zone database (checked where input enters)."""
Name = Annotated[str, Field(min_length=1, max_length=200)]
Identifier = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Location(_Value):
    """A coworking site: its timezone decides when dates begin, its currency what amounts mean."""

    id: Identifier
    name: Name
    timezone: str
    """An IANA name or a fixed offset (`billing.calendar.zone`), checked by `Location.new`."""
    currency: str
    """An ISO-4217 code, checked by `Location.new`; a code withdrawn since keeps billing."""

    @classmethod
    def new(cls, *, id: str, name: str, timezone: str, currency: str) -> "Location":
        """A location being created: its timezone must exist and its currency be one a new
        location may use (`UnknownCurrencyError`, `InvalidTimezoneError`); the code is
        upper-cased."""
        return cls(
            id=id,
            name=name,
            timezone=_timezone_name(timezone),
            currency=normalize_currency(currency),
        )


class Plan(_Value):
    """A tariff of one location."""

    code: Identifier
    name: Name
    location_id: Identifier
    price: Decimal
    every: CadenceText = "1 month"
    deposit: Decimal = Decimal(0)
    prorate_first_invoice: bool = False
    """Whether a contract on this plan may have its first (stub) invoice prorated (R8)."""


class Customer(_Value):
    id: Identifier
    name: Name
    email: Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
    location_id: Identifier


class ContractStatus(StrEnum):
    INACTIVE = "inactive"
    ACTIVE = "active"
    CANCELLED = "cancelled"


class ChangeKind(StrEnum):
    NEXT_PLAN = "next_plan"
    CANCEL_AT_NEXT_INVOICE = "cancel_at_next_invoice"


class Command(_Value):
    """Who asked for something and why (R11)."""

    actor: Name
    reason: Annotated[str, Field(max_length=2000)] = ""


class ScheduledChange(_Value):
    """What happens on the next invoice date instead of invoicing: a switch (R5) or the end (R6)."""

    kind: ChangeKind
    next_plan: Plan | None = None
    requested: Command

    @model_validator(mode="after")
    def _plan_matches_kind(self) -> "ScheduledChange":
        if (self.kind is ChangeKind.NEXT_PLAN) != (self.next_plan is not None):
            raise ValueError("a next_plan change names its plan; a cancellation names none")
        return self


class Cancellation(_Value):
    """A manual cancellation (R7): the contract ends at 00:00 on `date`, the first day unserved."""

    date: date
    prorate: bool
    requested: Command


class Contract(_Value):
    """A contract's whole state; the workflow's input and its continue-as-new carry this."""

    id: Identifier
    customer_id: Identifier
    location: Location
    plan: Plan
    price: Decimal
    start: date
    anchor: date
    prorate_first_invoice: bool = False
    replaces: str | None = None
    status: ContractStatus = ContractStatus.INACTIVE
    next_invoice_date: date | None = None
    """While active: the date of the next regular invoice (the end of the span billed so far)."""
    billed_from: date | None = None
    """Start of the span billed by the latest plan line (the period currently billed)."""
    billed_through: date | None = None
    """End (exclusive) of the span billed by the latest plan line."""
    cancellation: Cancellation | None = None
    scheduled_change: ScheduledChange | None = None
    end: date | None = None
    """Once cancelled: the first day not served."""
    successor_id: str | None = None

    @property
    def currency(self) -> str:
        return self.location.currency

    @property
    def timezone(self) -> str:
        return self.location.timezone

    @property
    def custom_price(self) -> bool:
        """A price that differs from the plan's blocks automated changes (R5)."""
        return self.price != self.plan.price


class LineKind(StrEnum):
    PLAN = "plan"
    PRORATION_CREDIT = "proration_credit"
    DEPOSIT = "deposit"
    DEPOSIT_REFUND = "deposit_refund"


class InvoicePurpose(StrEnum):
    PERIOD = "period"
    """The invoice of a billing date (R1), with the first invoice's deposit."""
    CLOSING = "closing"
    """The invoice issued when a contract ends: proration credit and deposit refund (R7, R9)."""
    UNCANCEL = "uncancel"
    """The invoice issued when a cancellation is undone after its last invoice was cut with
    proration: the days cut off (R7)."""


class InvoiceLine(_Value):
    kind: LineKind
    period_start: date
    period_end: date
    amount: Decimal
    description: str


class InvoiceDraft(_Value):
    """What a contract bills on one date, before the deposit rule (R9) is applied in the ledger.

    `deposit_due` is the plan's deposit on a contract's first invoice; the ledger charges only the
    top-up over what the replaced contract held. `settle_deposit` asks the ledger to transfer,
    hold or refund the deposit because the contract ends on `issue_date`.
    """

    contract_id: str
    customer_id: str
    currency: str
    issue_date: date
    purpose: InvoicePurpose = InvoicePurpose.PERIOD
    lines: tuple[InvoiceLine, ...] = ()
    deposit_due: Decimal = Decimal(0)
    replaces: str | None = None
    settle_deposit: bool = False
    successor_id: str | None = None


def new_contract(
    *,
    id: str,
    customer_id: str,
    location: Location,
    plan: Plan,
    start: date,
    price: Decimal | str | None = None,
    anchor: date | None = None,
    prorate_first_invoice: bool = False,
    replaces: str | None = None,
) -> Contract:
    """A contract before its start: `inactive`, first invoice on its start date (R8)."""
    return Contract(
        id=id,
        customer_id=customer_id,
        location=location,
        plan=plan,
        price=plan.price if price is None else parse_amount(price, location.currency),
        start=start,
        anchor=start if anchor is None else anchor,
        prorate_first_invoice=prorate_first_invoice,
        replaces=replaces,
    )
