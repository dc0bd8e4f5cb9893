"""Invoices: issued once per (contract, issue date, purpose) with their lines, numbered, and read
back as `store.records.IssuedInvoice`; an effect (contract, period start, line kind) is billed on
one invoice only (R12). Also every billed line of the database, for reconciliation.
"""

import functools
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from billing.contract import InvoiceLine, InvoicePurpose, LineKind
from store.errors import Conflict, NotFound
from store.models import InvoiceLineRow, InvoiceRow
from store.records import BilledLine, IssuedInvoice
from store.repository._shared import _in_minor_units, _insert_if_new


def insert_invoice(
    session: Session,
    *,
    contract_id: str,
    customer_id: str,
    currency: str,
    issue_date: date,
    lines: Sequence[InvoiceLine],
    purpose: InvoicePurpose = InvoicePurpose.PERIOD,
) -> IssuedInvoice:
    """Issue the contract's invoice of `issue_date`, totalling its lines.

    Idempotent by (contract, issue date, purpose): if that invoice exists it is returned
    unchanged (a contract ending on a billing date has a `period` and a `closing` invoice that
    day). A line whose business key (contract, period start, kind) is already billed on another
    invoice is a `Conflict`: the same effect is never billed twice (R12).
    """
    if not lines:
        issued = find_invoice(
            session, contract_id=contract_id, issue_date=issue_date, purpose=purpose
        )
        if issued is not None:
            return issued
        raise ValueError(f"The invoice of contract {contract_id!r} on {issue_date} has no lines.")
    total = sum((line.amount for line in lines), Decimal(0))
    values = {
        "contract_id": contract_id,
        "customer_id": customer_id,
        "issue_date": issue_date,
        "purpose": purpose.value,
        "currency": currency,
        "total": total,
    }
    statement = _insert_if_new(
        session.get_bind().dialect.name,
        InvoiceRow,
        tuple(values),
        ("contract_id", "issue_date", "purpose"),
        returning="id",
    )
    invoice_id = session.connection().execute(statement, values).scalar_one_or_none()
    if invoice_id is None:  # issued before, or by a concurrent call that committed first
        existing = find_invoice(
            session, contract_id=contract_id, issue_date=issue_date, purpose=purpose
        )
        return cast(IssuedInvoice, existing)
    # Checked only now: a concurrent call that issued this very invoice has committed by the time
    # the insert above returns, and its lines are this invoice's, not a double billing.
    _refuse_billed_lines(session, contract_id, lines)
    number = f"INV-{issue_date:%Y%m}-{invoice_id:06d}"
    connection = session.connection()
    connection.execute(_number_statement(), {"invoice_id": invoice_id, "new_number": number})
    connection.execute(
        _insert_lines_statement(),
        [
            {
                "invoice_id": invoice_id,
                "contract_id": contract_id,
                "kind": line.kind.value,
                "period_start": line.period_start,
                "period_end": line.period_end,
                "amount": line.amount,
                "description": line.description,
            }
            for line in lines
        ],
    )
    # What was written, as `find_invoice` would read it back.
    return IssuedInvoice(
        id=invoice_id,
        number=number,
        contract_id=contract_id,
        customer_id=customer_id,
        issue_date=issue_date,
        purpose=purpose,
        currency=currency,
        total=_in_minor_units(total, currency),
        lines=tuple(
            line.model_copy(update={"amount": _in_minor_units(line.amount, currency)})
            for line in lines
        ),
    )


@functools.cache
def _number_statement() -> Any:
    """The UPDATE that gives a new invoice its number, built once."""
    invoices = cast(Table, InvoiceRow.__table__)
    return (
        update(invoices)
        .where(invoices.c.id == bindparam("invoice_id"))
        .values(number=bindparam("new_number"))
    )


@functools.cache
def _insert_lines_statement() -> Any:
    """The INSERT of an invoice's lines, built once."""
    return insert(cast(Table, InvoiceLineRow.__table__))


def get_invoice(session: Session, number: str) -> IssuedInvoice:
    row = session.scalar(select(InvoiceRow).where(InvoiceRow.number == number))
    if row is None:
        raise NotFound(f"No invoice {number!r}: check the number.")
    return _issued(session, [row])[0]


def list_invoices(
    session: Session, *, contract_id: str | None = None, customer_id: str | None = None
) -> list[IssuedInvoice]:
    """Invoices matching every filter given, by issue date then in the order issued."""
    query = select(InvoiceRow).order_by(InvoiceRow.issue_date, InvoiceRow.id)
    if contract_id is not None:
        query = query.where(InvoiceRow.contract_id == contract_id)
    if customer_id is not None:
        query = query.where(InvoiceRow.customer_id == customer_id)
    return _issued(session, list(session.scalars(query)))


def billed_lines(session: Session) -> list[BilledLine]:
    """Every invoice line of the database with its contract and customer, in the order issued
    (by issue date, invoice, line): one query, however many invoices there are."""
    lines = cast(Table, InvoiceLineRow.__table__)
    invoices = cast(Table, InvoiceRow.__table__)
    query = (
        select(
            lines.c.contract_id,
            invoices.c.customer_id,
            invoices.c.currency,
            lines.c.kind,
            lines.c.period_start,
            lines.c.period_end,
            lines.c.amount,
            lines.c.description,
        )
        .join(invoices, lines.c.invoice_id == invoices.c.id)
        .order_by(invoices.c.issue_date, invoices.c.id, lines.c.id)
    )
    return [
        BilledLine(
            contract_id=row.contract_id,
            customer_id=row.customer_id,
            line=InvoiceLine(
                kind=LineKind(row.kind),
                period_start=row.period_start,
                period_end=row.period_end,
                amount=_in_minor_units(row.amount, row.currency),
                description=row.description,
            ),
        )
        for row in session.execute(query)
    ]


# --- Helpers ---------------------------------------------------------------------------------


def _refuse_billed_lines(session: Session, contract_id: str, lines: Sequence[InvoiceLine]) -> None:
    keys = {(line.period_start, line.kind) for line in lines}
    if len(keys) < len(lines):
        raise ValueError(
            f"The invoice of contract {contract_id!r} has two lines of the same kind starting on "
            "the same day: merge them."
        )
    billed = session.connection().execute(
        _billed_lines_statement(),
        {"contract_id": contract_id, "starts": sorted({start for start, _ in keys})},
    )
    for start, kind, number in billed:
        if (start, LineKind(kind)) in keys:
            raise Conflict(
                f"Contract {contract_id!r} already has a {kind} line from {start} on invoice "
                f"{number}; an effect is billed once: leave that line out."
            )


@functools.cache
def _billed_lines_statement() -> Select[date, str, str | None]:
    """The contract's billed lines starting on any of the given days, built once."""
    lines = cast(Table, InvoiceLineRow.__table__)
    invoices = cast(Table, InvoiceRow.__table__)
    return (
        select(lines.c.period_start, lines.c.kind, invoices.c.number)
        .join(invoices, lines.c.invoice_id == invoices.c.id)
        .where(
            lines.c.contract_id == bindparam("contract_id"),
            lines.c.period_start.in_(
                bindparam("starts", expanding=True, type_=lines.c.period_start.type)
            ),
        )
    )


def find_invoice(
    session: Session,
    *,
    contract_id: str,
    issue_date: date,
    purpose: InvoicePurpose = InvoicePurpose.PERIOD,
) -> IssuedInvoice | None:
    """The contract's invoice of `issue_date` for `purpose`, if it was issued."""
    row = (
        session.connection()
        .execute(
            _find_invoice_statement(),
            {"contract_id": contract_id, "issue_date": issue_date, "purpose": purpose.value},
        )
        .first()
    )
    return None if row is None else _issued(session, [row])[0]


@functools.cache
def _find_invoice_statement() -> Any:
    """`find_invoice`'s query with bound parameters, built once (on the table: rows, not ORM
    objects)."""
    invoices = cast(Table, InvoiceRow.__table__)
    return select(invoices).where(
        invoices.c.contract_id == bindparam("contract_id"),
        invoices.c.issue_date == bindparam("issue_date", type_=invoices.c.issue_date.type),
        invoices.c.purpose == bindparam("purpose"),
    )


def _issued(session: Session, rows: Iterable[Any]) -> list[IssuedInvoice]:
    """The invoices with their lines, in the order given, loading all lines in one query."""
    rows = list(rows)
    lines: dict[int, list[InvoiceLine]] = {row.id: [] for row in rows}
    currencies = {row.id: row.currency for row in rows}
    query = (
        select(InvoiceLineRow)
        .where(InvoiceLineRow.invoice_id.in_(lines))
        .order_by(InvoiceLineRow.id)
    )
    for line in session.scalars(query):
        lines[line.invoice_id].append(
            InvoiceLine(
                kind=LineKind(line.kind),
                period_start=line.period_start,
                period_end=line.period_end,
                amount=_in_minor_units(line.amount, currencies[line.invoice_id]),
                description=line.description,
            )
        )
    return [
        IssuedInvoice(
            id=row.id,
            number=cast(str, row.number),
            contract_id=row.contract_id,
            customer_id=row.customer_id,
            issue_date=row.issue_date,
            purpose=InvoicePurpose(row.purpose),
            currency=row.currency,
            total=_in_minor_units(row.total, row.currency),
            lines=tuple(lines[row.id]),
        )
        for row in rows
    ]
