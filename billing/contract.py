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
from billing.terms import Terms, commitment_end


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
    terms: Terms = Terms()
    """Notice, minimum term, renewal and freeze limits of contracts on this plan (§3b)."""


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
    job: str | None = Field(default=None, max_length=64)
    """The bulk job that sent the command (SPEC §8); a contract takes each job's command once."""


class ScheduledChange(_Value):
    """What happens on the next invoice date instead of invoicing: a switch (R5) or the end (R6)."""

    kind: ChangeKind
    next_plan: Plan | None = None
    requested: Command
    price: Decimal | None = None
    """The next term's price (R19); None: the next plan's."""

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
    charge_remaining_term: bool = False
    """Ending inside the commitment: the committed days no invoice covers are charged on
    `date` (an `early_termination` line, R15)."""


class ScheduledPrice(_Value):
    """R18: from the invoice date `effective` on, the contract is invoiced at `price`."""

    price: Decimal
    effective: date
    """The first invoice date on or after the date asked for."""
    requested: Command
    plan_price: bool = False
    """The plan's new price (R18 `plan_price`): the plan's price changes with it, so the contract
    keeps billing the plan's price, not a custom one."""


class PriceUntil(_Value):
    """A price the contract was invoiced at before `until`, when a scheduled price replaced it
    (R18): what R20 checks its earlier lines against."""

    price: Decimal
    until: date


class Freeze(_Value):
    """R17: the invoice dates in `[start, end)` issue no plan line; `cycles` periods."""

    start: date
    end: date
    cycles: int
    requested: Command
    commitment_before: date | None = None
    """The commitment end before this freeze moved it later (restored, plus the cycles actually
    frozen, by an unfreeze)."""


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
    terms: Terms = Terms()
    """The contract's terms (§3b): its plan's, with those set for the contract in their place."""
    commitment_end: date | None = None
    """R15: the first day after the minimum term; None without one."""
    renewal_noticed: date | None = None
    """R16: the commitment end whose "renewal upcoming" notice was recorded."""
    scheduled_price: ScheduledPrice | None = None
    """R18: a price change waiting for its invoice date."""
    freezes: tuple[Freeze, ...] = ()
    """R17: every freeze, in order; the last may be scheduled or running."""
    earlier_prices: tuple[PriceUntil, ...] = ()
    """R18: the prices replaced by scheduled prices, in order."""

    def price_on(self, day: date) -> Decimal:
        """The price the contract invoices a period that starts on `day` at."""
        return next((p.price for p in self.earlier_prices if day < p.until), self.price)

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
    EARLY_TERMINATION = "early_termination"
    """The committed days after the end of a contract cancelled inside its minimum term (R15)."""


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
    terms: Terms | None = None,
    inherited_commitment: date | None = None,
) -> Contract:
    """A contract before its start: `inactive`, first invoice on its start date (R8).

    Its terms are the plan's unless given; its commitment ends a minimum term after its start,
    or on `inherited_commitment` (the commitment end of the contract it replaces) when that is
    later (R15)."""
    terms = plan.terms if terms is None else terms
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
        terms=terms,
        commitment_end=commitment_end(start, terms, inherited_commitment),
    )
