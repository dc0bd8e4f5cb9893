"""Tables of the billing database, as SQLAlchemy typed declarative models.

Every effect has a business key enforced by a unique constraint (R12), so a retried activity can
never duplicate it: a contract per id, an invoice per (contract, issue date), an invoice line per
(contract, period start, kind), a deposit movement per (contract, kind), an audit entry per key,
an event per id (derived from its effect's key) and per (contract, sequence).
"""

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from billing.contract import ContractStatus, InvoicePurpose, LineKind
from billing.events import EventType
from billing.terms import Renewal
from store.records import DepositKind
from store.types import Money, UtcDateTime

ID_LENGTH = 64
"""Ids and codes are given by users (see `billing.contract.Identifier`)."""
EVENT_ID_LENGTH = 40
"""`evt_` and 32 hex digits (`billing.events.event_id`)."""
SPAN_LENGTH = 32
"""A notice period or minimum term as `billing.terms.Span` writes it ("12 months")."""

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, the same on every backend, so migrations can refer to them."""


def _now() -> datetime:
    return datetime.now(UTC)


def _one_of(
    column: str,
    values: type[ContractStatus | LineKind | DepositKind | InvoicePurpose | Renewal | EventType],
) -> str:
    return f"{column} IN ({', '.join(repr(member.value) for member in values)})"


def _id(*, primary_key: bool = False) -> Mapped[str]:
    return mapped_column(String(ID_LENGTH), primary_key=primary_key)


def _reference(target: str, *, index: bool = True) -> Mapped[str]:
    return mapped_column(String(ID_LENGTH), ForeignKey(target), index=index)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LocationRow(Base):
    __tablename__ = "locations"

    id: Mapped[str] = _id(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)


class PlanRow(Base):
    """A plan, with its terms (§3b); a plan without terms has null spans and limits, `rolling`."""

    __tablename__ = "plans"
    __table_args__ = (CheckConstraint(_one_of("renewal", Renewal), name="renewal"),)

    code: Mapped[str] = _id(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    location_id: Mapped[str] = _reference("locations.id")
    price: Mapped[Decimal] = mapped_column(Money())
    every: Mapped[str] = mapped_column(String(32))
    deposit: Mapped[Decimal] = mapped_column(Money())
    prorate_first_invoice: Mapped[bool] = mapped_column(Boolean())
    notice: Mapped[str | None] = mapped_column(String(SPAN_LENGTH))
    minimum_term: Mapped[str | None] = mapped_column(String(SPAN_LENGTH))
    renewal: Mapped[str] = mapped_column(String(16), server_default=Renewal.ROLLING.value)
    max_freeze_cycles: Mapped[int | None] = mapped_column(Integer())
    max_freezes_per_year: Mapped[int | None] = mapped_column(Integer())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)


class CustomerRow(Base):
    __tablename__ = "customers"

    id: Mapped[str] = _id(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    location_id: Mapped[str] = _reference("locations.id")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)


class ContractRow(Base):
    """A contract: state columns for queries, and `snapshot`, the whole `Contract` value as JSON."""

    __tablename__ = "contracts"
    __table_args__ = (CheckConstraint(_one_of("status", ContractStatus), name="status"),)

    id: Mapped[str] = _id(primary_key=True)
    customer_id: Mapped[str] = _reference("customers.id")
    location_id: Mapped[str] = _reference("locations.id")
    plan_code: Mapped[str] = _reference("plans.code")
    price: Mapped[Decimal] = mapped_column(Money())
    start: Mapped[date] = mapped_column(Date())
    anchor: Mapped[date] = mapped_column(Date())
    prorate_first_invoice: Mapped[bool] = mapped_column(Boolean())
    status: Mapped[str] = mapped_column(String(16), index=True)
    next_invoice_date: Mapped[date | None] = mapped_column(Date())
    commitment_end: Mapped[date | None] = mapped_column(Date(), index=True)
    """R15: the first day after the minimum term; null without one."""
    billed_from: Mapped[date | None] = mapped_column(Date())
    billed_through: Mapped[date | None] = mapped_column(Date())
    cancellation_date: Mapped[date | None] = mapped_column(Date())
    cancellation_prorate: Mapped[bool | None] = mapped_column(Boolean())
    next_plan_code: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    cancel_at_next_invoice: Mapped[bool] = mapped_column(Boolean(), default=False)
    end_date: Mapped[date | None] = mapped_column(Date())
    replaces_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("contracts.id"), unique=True
    )
    """Replaced at most once (by a switch or a new term); the unique constraint indexes it."""
    successor_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    snapshot: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)


class InvoiceRow(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("contract_id", "issue_date", "purpose"),
        CheckConstraint(_one_of("purpose", InvoicePurpose), name="purpose"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    """Derived from `id`, so set right after the insert in the same transaction; never null once
    committed."""
    contract_id: Mapped[str] = _reference("contracts.id", index=False)
    customer_id: Mapped[str] = _reference("customers.id")
    issue_date: Mapped[date] = mapped_column(Date())
    purpose: Mapped[str] = mapped_column(String(16))
    """`period`: the invoice of a billing date; `closing`: the one issued when the contract ends."""
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)


class InvoiceLineRow(Base):
    __tablename__ = "invoice_lines"
    __table_args__ = (
        UniqueConstraint("contract_id", "period_start", "kind"),
        CheckConstraint(_one_of("kind", LineKind), name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(Integer(), ForeignKey("invoices.id"), index=True)
    contract_id: Mapped[str] = _reference("contracts.id", index=False)
    kind: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[date] = mapped_column(Date())
    period_end: Mapped[date] = mapped_column(Date())
    amount: Mapped[Decimal] = mapped_column(Money())
    description: Mapped[str] = mapped_column(Text())


class DepositMovementRow(Base):
    """One change of what a customer holds; `amount` is signed: positive means held more."""

    __tablename__ = "deposit_movements"
    __table_args__ = (
        UniqueConstraint("contract_id", "kind"),
        CheckConstraint(_one_of("kind", DepositKind), name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = _reference("customers.id")
    contract_id: Mapped[str] = _reference("contracts.id", index=False)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money())
    on_date: Mapped[date] = mapped_column(Date())
    invoice_id: Mapped[int | None] = mapped_column(Integer(), ForeignKey("invoices.id"), index=True)


class AuditRow(Base):
    """What an admin command did, who asked and why (R11); `key` makes recording it idempotent."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text())
    command: Mapped[str] = mapped_column(String(64))
    contract_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), index=True)
    effect: Mapped[str] = mapped_column(Text())
    job_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True, index=True)
    """The bulk job that sent the command (SPEC §8), if one did."""


class EventRow(Base):
    """An event (SPEC §7), written in the transaction of its effect and never changed.

    `position` orders every event of the database (a consumer's cursor); `sequence` numbers one
    contract's events 1, 2, 3 … without gaps. `id` is derived from `effect_key` (the effect's
    audit entry key) and the event's index in it, so a retried effect cannot write it twice.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("contract_id", "sequence"),
        CheckConstraint(_one_of("type", EventType), name="type"),
        Index(None, "type", "position"),
        {"sqlite_autoincrement": True},
    )

    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    """Never reused (SQLite: AUTOINCREMENT), and in commit order (`record_events`)."""
    id: Mapped[str] = mapped_column(String(EVENT_ID_LENGTH), unique=True)
    effect_key: Mapped[str] = mapped_column(String(255))
    contract_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    sequence: Mapped[int] = mapped_column(Integer())
    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    business_date: Mapped[date] = mapped_column(Date())
    payload: Mapped[str] = mapped_column(Text())


class WebhookEndpointRow(Base):
    """An endpoint that receives events (SPEC §7) by webhook, signed with its secret.

    It receives the events after `after_position` whose type it wants (`event_types`, a
    comma-separated list; empty: every type). `scanned_position` is how far its delivery workflow
    has copied events into `webhook_deliveries`.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    url: Mapped[str] = mapped_column(Text())
    event_types: Mapped[str] = mapped_column(Text(), default="")
    secret: Mapped[str] = mapped_column(Text())
    """Standard Webhooks secret, `whsec_` and base64; never logged, shown or sent anywhere."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    after_position: Mapped[int] = mapped_column(BigInteger())
    scanned_position: Mapped[int] = mapped_column(BigInteger())


DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookDeliveryRow(Base):
    """One event to deliver to one endpoint: pending until the endpoint acknowledged it (a 2xx),
    failed once its retries ran out (it then holds back its contract's later events until it is
    redelivered)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(
            f"status IN ({', '.join(repr(status) for status in DELIVERY_STATUSES)})",
            name="status",
        ),
        Index(None, "endpoint_id", "status", "contract_id", "event_position"),
    )

    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"), primary_key=True)
    event_position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("events.position"),
        primary_key=True,
    )
    contract_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


BULK_OUTCOMES = ("applied", "refused", "skipped")
BULK_STATUSES = ("running", "done", "cancelled")


class BulkJobRow(Base):
    """A bulk job (SPEC §8): one command, with its arguments, over a selection of contracts.

    `command` is the update's name and `arguments` its fields as JSON; `selection` says in words
    (and `selection_json` exactly) which contracts it takes. `runs` counts the times it was
    started: a job run again sends its command again, and each contract that took it answers so.
    """

    __tablename__ = "bulk_jobs"
    __table_args__ = (
        CheckConstraint(
            f"status IN ({', '.join(repr(status) for status in BULK_STATUSES)})", name="status"
        ),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    command: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[str] = mapped_column(Text())
    selection: Mapped[str] = mapped_column(Text())
    selection_json: Mapped[str] = mapped_column(Text())
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)
    status: Mapped[str] = mapped_column(String(16), default="running")
    runs: Mapped[int] = mapped_column(Integer(), default=1)
    total: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    """How many contracts the selection holds, once chosen (None before)."""
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class BulkItemRow(Base):
    """One contract of a bulk job, in the order the job takes them, with its answer once it has
    one (`message`: the effect, or why it was refused or skipped)."""

    __tablename__ = "bulk_items"
    __table_args__ = (
        UniqueConstraint("job_id", "contract_id"),
        CheckConstraint(
            f"outcome IN ({', '.join(repr(outcome) for outcome in BULK_OUTCOMES)})",
            name="outcome",
        ),
    )

    job_id: Mapped[str] = mapped_column(ForeignKey("bulk_jobs.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer(), primary_key=True)
    contract_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str | None] = mapped_column(Text(), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
