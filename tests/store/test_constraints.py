"""Business keys (R12) hold in the database itself: raw duplicate or dangling writes are refused."""

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.db import Database
from store.models import (
    AuditRow,
    ContractRow,
    DepositMovementRow,
    InvoiceLineRow,
    InvoiceRow,
    LocationRow,
    PlanRow,
)
from tests.store.conftest import contract, record
from tests.store.test_invoices import MARCH, issue


@pytest.fixture
def invoiced(catalog: Database) -> Database:
    """c2 replaces c1; c1 has its March invoice."""
    record(catalog, contract("c1"), contract("c2", replaces="c1"), contract("c3"))
    issue(catalog, date(2027, 3, 1), MARCH)
    return catalog


def _invoice(session: Session, **values: Any) -> int:
    row = {"contract_id": "c1", "customer_id": "acme", "currency": "CHF", "total": Decimal(0)}
    statement = insert(InvoiceRow).values(**row | values).returning(InvoiceRow.id)
    return session.execute(statement).scalar_one()


def same_location(session: Session) -> None:
    session.execute(
        insert(LocationRow).values(id="geneva", name="G", timezone="UTC", currency="CHF")
    )


def second_invoice_on_a_date(session: Session) -> None:
    _invoice(session, issue_date=date(2027, 3, 1))


def same_invoice_number(session: Session) -> None:
    taken = session.scalar(select(InvoiceRow.number))
    _invoice(session, issue_date=date(2027, 4, 1), number=taken)


def same_line_key(session: Session) -> None:
    invoice_id = _invoice(session, issue_date=date(2027, 3, 2))
    line = MARCH.model_dump() | {"kind": MARCH.kind.value}
    session.execute(insert(InvoiceLineRow).values(invoice_id=invoice_id, contract_id="c1", **line))


def same_deposit_movement(session: Session) -> None:
    movement = {"customer_id": "acme", "contract_id": "c1", "kind": "charge"}
    for _ in range(2):
        session.execute(
            insert(DepositMovementRow).values(
                **movement, amount=Decimal(1), on_date=date(2027, 3, 1)
            )
        )


def same_audit_key(session: Session) -> None:
    entry = {"key": "k", "actor": "a", "reason": "", "command": "c", "effect": "e"}
    for _ in range(2):
        session.execute(insert(AuditRow).values(**entry, at=datetime.now(UTC)))


def second_replacement(session: Session) -> None:
    session.execute(update(ContractRow).where(ContractRow.id == "c3").values(replaces_id="c1"))


def unknown_customer(session: Session) -> None:
    session.execute(update(ContractRow).where(ContractRow.id == "c3").values(customer_id="x"))


def unknown_status(session: Session) -> None:
    session.execute(update(ContractRow).where(ContractRow.id == "c3").values(status="paused"))


def unknown_renewal(session: Session) -> None:
    session.execute(update(PlanRow).where(PlanRow.code == "office").values(renewal="forever"))


def unknown_line_kind(session: Session) -> None:
    session.execute(update(InvoiceLineRow).values(kind="discount"))


@pytest.mark.parametrize(
    "write",
    [
        same_location,
        second_invoice_on_a_date,
        same_invoice_number,
        same_line_key,
        same_deposit_movement,
        same_audit_key,
        second_replacement,
        unknown_customer,
        unknown_status,
        unknown_renewal,
        unknown_line_kind,
    ],
)
def test_the_database_refuses(invoiced: Database, write: Callable[[Session], None]) -> None:
    with pytest.raises(IntegrityError), invoiced.session() as session:
        write(session)
