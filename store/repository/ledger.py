"""The deposit ledger (R9): signed movements of each contract's deposit (charge, transfers,
refund), at most one of each kind per contract, and what a contract, a customer or every customer
holds.
"""

import functools
from datetime import date
from decimal import Decimal
from typing import cast

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.orm import Session

from store.errors import NotFound
from store.models import ContractRow, CustomerRow, DepositMovementRow, InvoiceRow, LocationRow
from store.records import DepositKind, DepositMovement
from store.repository._shared import NO_CONTRACT, _in_minor_units, _insert_new


def record_deposit_movement(
    session: Session,
    *,
    customer_id: str,
    contract_id: str,
    kind: DepositKind,
    amount: Decimal,
    on_date: date,
    invoice_id: int | None = None,
) -> bool:
    """Record a movement of the contract's deposit, at most one of each kind per contract; False
    if it is already recorded. `amount` is signed: charges and transfers in are positive (or
    zero), transfers out and refunds negative (or zero)."""
    kind = DepositKind(kind)
    if amount * kind.sign < 0:
        raise ValueError(
            f"A deposit {kind.value} of contract {contract_id!r} cannot be {amount}: "
            f"it is {'positive' if kind.sign > 0 else 'negative'} or zero."
        )
    values = {
        "customer_id": customer_id,
        "contract_id": contract_id,
        "kind": kind.value,
        "amount": amount,
        "on_date": on_date,
        "invoice_id": invoice_id,
    }
    return _insert_new(session, DepositMovementRow, values, key=["contract_id", "kind"])


def held_by_contract(session: Session, contract_id: str) -> Decimal:
    """What the contract holds as deposit: the sum of its movements."""
    rows = session.connection().execute(_held_by_contract_statement(), {"contract_id": contract_id})
    found = rows.all()  # one row per movement, or one with no amount
    if not found:
        raise NotFound(NO_CONTRACT.format(contract_id))
    held = sum((amount for _, amount in found if amount is not None), Decimal(0))
    return _in_minor_units(held, found[0].currency)


@functools.cache
def _held_by_contract_statement() -> Select[str, Decimal | None]:
    """The contract's currency with each of its deposit movements, in one query built once."""
    contracts = cast(Table, ContractRow.__table__)
    locations = cast(Table, LocationRow.__table__)
    movements = cast(Table, DepositMovementRow.__table__)
    return (
        select(locations.c.currency, movements.c.amount)
        .select_from(contracts)
        .join(locations, contracts.c.location_id == locations.c.id)
        .outerjoin(movements, movements.c.contract_id == contracts.c.id)
        .where(contracts.c.id == bindparam("contract_id"))
    )


def held_by_customers(session: Session) -> dict[str, Decimal]:
    """What each customer holds as deposits (`held_by_customer`), every customer in one query.

    The movements are summed here, not by SQL: SQLite keeps amounts as text (`store.types.Money`),
    and its `SUM` would add them as floats."""
    customers = cast(Table, CustomerRow.__table__)
    locations = cast(Table, LocationRow.__table__)
    movements = cast(Table, DepositMovementRow.__table__)
    query = (
        select(customers.c.id, locations.c.currency, movements.c.amount)
        .select_from(customers)
        .join(locations, customers.c.location_id == locations.c.id)
        .outerjoin(movements, movements.c.customer_id == customers.c.id)
    )
    totals: dict[str, Decimal] = {}
    currencies: dict[str, str] = {}
    for customer_id, currency, amount in session.execute(query):
        currencies[customer_id] = currency
        totals[customer_id] = totals.get(customer_id, Decimal(0)) + (amount or Decimal(0))
    return {
        customer_id: _in_minor_units(total, currencies[customer_id])
        for customer_id, total in totals.items()
    }


def held_by_customer(session: Session, customer_id: str) -> Decimal:
    """What the customer holds as deposits, over all its contracts."""
    currency = _customer_currency(session, customer_id)
    amounts = session.scalars(
        select(DepositMovementRow.amount).where(DepositMovementRow.customer_id == customer_id)
    )
    return _in_minor_units(sum(amounts, Decimal(0)), currency)


def holdings(session: Session, customer_id: str) -> dict[str, Decimal]:
    """What each of the customer's contracts holds, for those holding anything."""
    currency = _customer_currency(session, customer_id)
    totals: dict[str, Decimal] = {}
    rows = session.execute(
        select(DepositMovementRow.contract_id, DepositMovementRow.amount).where(
            DepositMovementRow.customer_id == customer_id
        )
    )
    for contract_id, amount in rows:
        totals[contract_id] = totals.get(contract_id, Decimal(0)) + amount
    return {
        contract_id: _in_minor_units(total, currency)
        for contract_id, total in totals.items()
        if total != 0
    }


def deposit_movements(session: Session, customer_id: str) -> list[DepositMovement]:
    """The customer's deposit movements, by date then in the order recorded."""
    currency = _customer_currency(session, customer_id)
    query = (
        select(DepositMovementRow, InvoiceRow.number)
        .outerjoin(InvoiceRow, DepositMovementRow.invoice_id == InvoiceRow.id)
        .where(DepositMovementRow.customer_id == customer_id)
        .order_by(DepositMovementRow.on_date, DepositMovementRow.id)
    )
    return [
        DepositMovement(
            customer_id=row.customer_id,
            contract_id=row.contract_id,
            kind=DepositKind(row.kind),
            amount=_in_minor_units(row.amount, currency),
            on_date=row.on_date,
            invoice_number=number,
        )
        for row, number in session.execute(query)
    ]


# --- Helpers ---------------------------------------------------------------------------------


def _customer_currency(session: Session, customer_id: str) -> str:
    currency = session.scalar(
        select(LocationRow.currency)
        .join(CustomerRow, CustomerRow.location_id == LocationRow.id)
        .where(CustomerRow.id == customer_id)
    )
    if currency is None:
        raise NotFound(f"No customer {customer_id!r}: check the id.")
    return currency
