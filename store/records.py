"""What the repository returns besides billing values: small immutable records, never ORM rows."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from billing.contract import Contract, InvoiceLine, InvoicePurpose
from billing.events import EventType


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class DepositKind(StrEnum):
    """Movements of the deposit ledger (R9), each at most once per contract."""

    CHARGE = "charge"
    """Charged on the contract's first invoice (the top-up); positive."""
    TRANSFER_IN = "transfer_in"
    """Inherited from the contract it replaces; positive."""
    TRANSFER_OUT = "transfer_out"
    """Passed to the contract that replaces it; negative."""
    REFUND = "refund"
    """Credited back to the customer; negative."""

    @property
    def sign(self) -> int:
        """+1 when the movement adds to what is held, -1 when it takes from it."""
        return 1 if self in (DepositKind.CHARGE, DepositKind.TRANSFER_IN) else -1


class ContractRecord(_Record):
    contract: Contract
    created_at: datetime
    updated_at: datetime


class IssuedInvoice(_Record):
    id: int
    """The row id; `record_deposit_movement(invoice_id=...)` refers to it."""
    number: str
    contract_id: str
    customer_id: str
    issue_date: date
    purpose: InvoicePurpose = InvoicePurpose.PERIOD
    """Defaulted: histories recorded before invoices had a purpose carry none."""
    currency: str
    total: Decimal
    lines: tuple[InvoiceLine, ...]


class BilledLine(_Record):
    """An invoice line with the contract it bills and the customer of its invoice."""

    contract_id: str
    customer_id: str
    line: InvoiceLine


class DepositMovement(_Record):
    customer_id: str
    contract_id: str
    kind: DepositKind
    amount: Decimal
    """Signed: positive means the customer holds more."""
    on_date: date
    invoice_number: str | None


class AuditEntry(_Record):
    key: str
    at: datetime
    actor: str
    reason: str
    command: str
    contract_id: str | None
    effect: str
    job_id: str | None = None


class StoredEvent(_Record):
    """An event as written (SPEC §7); `payload` is its JSON document, read as written (a newer
    `version` included)."""

    position: int
    id: str
    contract_id: str
    sequence: int
    type: EventType
    occurred_at: datetime
    business_date: date
    payload: dict[str, Any]


class BulkJob(_Record):
    """A bulk job (SPEC §8): its command (the update's name and fields), which contracts it
    takes, who asked and why, and how far it is."""

    id: str
    command: str
    arguments: dict[str, Any]
    selection: str
    """The selection in words: "plan desk", "query …", "12 contracts from ids.csv"."""
    selection_json: dict[str, Any]
    actor: str
    reason: str = ""
    created_at: datetime
    status: str = "running"
    runs: int = 1
    total: int = 0
    finished_at: datetime | None = None


class BulkItem(_Record):
    """One contract of a bulk job and its answer (`outcome` None until it has one)."""

    position: int
    contract_id: str
    outcome: str | None = None
    code: str | None = None
    message: str | None = None
    answered_at: datetime | None = None


class BulkCounts(_Record):
    applied: int = 0
    refused: int = 0
    skipped: int = 0
    left: int = 0

    @property
    def done(self) -> int:
        return self.applied + self.refused + self.skipped
