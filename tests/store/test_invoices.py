"""Invoices: one per contract and issue date, each effect billed once, even under races."""

import threading
from datetime import date
from decimal import Decimal

import pytest

from billing.contract import InvoiceLine, LineKind
from store import repository
from store.db import Database
from store.errors import Conflict, NotFound
from store.records import IssuedInvoice
from tests.store.conftest import INITECH, contract, record

MARCH = InvoiceLine(
    kind=LineKind.PLAN,
    period_start=date(2027, 3, 1),
    period_end=date(2027, 4, 1),
    amount=Decimal("300.00"),
    description="Hot Desk, March 2027",
)
DEPOSIT = InvoiceLine(
    kind=LineKind.DEPOSIT,
    period_start=date(2027, 3, 1),
    period_end=date(2027, 3, 1),
    amount=Decimal("200.00"),
    description="Deposit",
)
CREDIT = InvoiceLine(
    kind=LineKind.PRORATION_CREDIT,
    period_start=date(2027, 3, 21),
    period_end=date(2027, 4, 1),
    amount=Decimal("-106.45"),
    description="Cancelled on 2027-03-21",
)
EARLY_TERMINATION = InvoiceLine(
    kind=LineKind.EARLY_TERMINATION,
    period_start=date(2027, 4, 1),
    period_end=date(2028, 3, 1),
    amount=Decimal("3300.00"),
    description="Minimum term until 2028-03-01",
)


@pytest.fixture
def billed(catalog: Database) -> Database:
    """The catalog with ACME's contract c1 and INITECH's contract c2 recorded."""
    record(catalog, contract("c1"), contract("c2", customer=INITECH))
    return catalog


def issue(
    database: Database, issue_date: date, *lines: InvoiceLine, contract_id: str = "c1"
) -> IssuedInvoice:
    customer_id = {"c1": "acme", "c2": "initech"}[contract_id]
    with database.session() as session:
        return repository.insert_invoice(
            session,
            contract_id=contract_id,
            customer_id=customer_id,
            currency="CHF",
            issue_date=issue_date,
            lines=lines,
        )


def test_insert_invoice(billed: Database) -> None:
    invoice = issue(billed, date(2027, 3, 1), MARCH, DEPOSIT)
    assert invoice.number == f"INV-202703-{invoice.id:06d}"
    assert (invoice.contract_id, invoice.customer_id) == ("c1", "acme")
    assert (invoice.issue_date, invoice.currency) == (date(2027, 3, 1), "CHF")
    assert invoice.lines == (MARCH, DEPOSIT)
    assert str(invoice.total) == "500.00"
    with billed.session() as session:
        assert repository.get_invoice(session, invoice.number) == invoice


def test_an_early_termination_line_is_billed_once(billed: Database) -> None:
    closing = issue(billed, date(2027, 3, 21), CREDIT, EARLY_TERMINATION)
    assert closing.lines == (CREDIT, EARLY_TERMINATION)
    assert str(closing.total) == "3193.55"
    with billed.session() as session:
        assert repository.get_invoice(session, closing.number) == closing
        assert [b.line for b in repository.billed_lines(session)] == [CREDIT, EARLY_TERMINATION]
    with pytest.raises(Conflict, match=r"already has an? early_termination line from 2027-04-01"):
        issue(billed, date(2027, 3, 22), EARLY_TERMINATION)


def test_insert_invoice_is_idempotent_by_contract_and_date(billed: Database) -> None:
    first = issue(billed, date(2027, 3, 1), MARCH, DEPOSIT)
    assert issue(billed, date(2027, 3, 1), MARCH, DEPOSIT) == first
    assert issue(billed, date(2027, 3, 1), MARCH) == first  # returned unchanged
    with billed.session() as session:
        assert repository.list_invoices(session) == [first]


def test_an_effect_already_billed_conflicts(billed: Database) -> None:
    march = issue(billed, date(2027, 3, 1), MARCH)
    with pytest.raises(
        Conflict, match=f"already has a plan line from 2027-03-01 on.*{march.number}"
    ):
        issue(billed, date(2027, 3, 2), MARCH)
    with billed.session() as session:
        assert repository.list_invoices(session) == [march]


def test_lines_of_one_invoice_have_distinct_keys(billed: Database) -> None:
    with pytest.raises(ValueError, match="two lines of the same kind"):
        issue(billed, date(2027, 3, 1), MARCH, MARCH.model_copy(update={"description": "again"}))


def test_an_invoice_has_lines(billed: Database) -> None:
    with pytest.raises(ValueError, match="has no lines"):
        issue(billed, date(2027, 3, 1))


def test_list_invoices_orders_and_filters(billed: Database) -> None:
    april_line = MARCH.model_copy(
        update={"period_start": date(2027, 4, 1), "period_end": date(2027, 5, 1)}
    )
    april = issue(billed, date(2027, 4, 1), april_line)
    credit = issue(billed, date(2027, 3, 21), CREDIT)
    other = issue(billed, date(2027, 3, 1), MARCH, contract_id="c2")
    march = issue(billed, date(2027, 3, 1), MARCH)
    assert str(credit.total) == "-106.45"
    with billed.session() as session:
        assert repository.list_invoices(session) == [other, march, credit, april]
        assert repository.list_invoices(session, contract_id="c1") == [march, credit, april]
        assert repository.list_invoices(session, customer_id="initech") == [other]
        assert repository.list_invoices(session, contract_id="c2", customer_id="acme") == []
        billed_lines = repository.billed_lines(session)  # every line at once, in the same order
    assert [(b.contract_id, b.customer_id, b.line) for b in billed_lines] == [
        (invoice.contract_id, invoice.customer_id, line)
        for invoice in (other, march, credit, april)
        for line in invoice.lines
    ]
    assert [str(b.line.amount) for b in billed_lines] == ["300.00", "300.00", "-106.45", "300.00"]


def test_get_invoice_of_an_unknown_number(billed: Database) -> None:
    with pytest.raises(NotFound, match="No invoice 'INV-0'"), billed.session() as session:
        repository.get_invoice(session, "INV-0")


def test_concurrent_duplicate_inserts_leave_one_invoice(billed: Database) -> None:
    start = threading.Barrier(4)
    issued: list[IssuedInvoice] = []
    errors: list[Exception] = []

    def insert() -> None:
        try:
            start.wait()
            issued.append(issue(billed, date(2027, 3, 1), MARCH, DEPOSIT))
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=insert) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({invoice.number for invoice in issued}) == 1
    with billed.session() as session:
        assert repository.list_invoices(session) == issued[:1]
