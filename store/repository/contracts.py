"""Contracts: recorded once by id (one at a time or set-based), their state saved as it changes,
read back as `store.records.ContractRecord`; and the queries and lock that deposit decisions (R9)
need about a customer's other contracts.

A contract's row keeps the columns that follow its state (plan, price, status, dates, the
commitment end...) next to a JSON snapshot of the whole `billing.contract.Contract`, which is what
reads return; a snapshot stored before contracts had terms reads back with none.
"""

import functools
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, bindparam, or_, select, update
from sqlalchemy.orm import Session

from billing.contract import ChangeKind, Contract, ContractStatus
from store.errors import Conflict, NotFound
from store.models import ContractRow, CustomerRow, PlanRow
from store.records import ContractRecord
from store.repository._shared import (
    NO_CONTRACT,
    NO_CUSTOMER,
    NO_PLAN,
    _in_chunks,
    _insert_new_rows,
    _require,
)


def record_contract(session: Session, contract: Contract) -> bool:
    """Insert a new contract; False if it is already recorded with the same customer, plan,
    start and price. Raise `Conflict` if the id is taken by another contract, or if the contract
    it replaces is already replaced (a contract is replaced at most once)."""
    return contract.id in record_contracts(session, [contract])


def record_contracts(session: Session, contracts: Sequence[Contract]) -> set[str]:
    """Insert every contract not yet recorded, as `record_contract` does one; the ids inserted.

    Set-based: the customers, plans and replaced contracts are looked up with one query each,
    the rows go in with one multi-row INSERT, and only the ids that were already there are read
    back to compare. Contracts that replace another are inserted after the rest, one at a time
    in the order given, so that one may replace a contract of the same call. Raises `NotFound`
    or `Conflict` for the first contract at fault; the caller's transaction is then to be rolled
    back.
    """
    unique: dict[str, Contract] = {}
    for contract in contracts:
        first = unique.setdefault(contract.id, contract)
        if _identity(first) != _identity(contract):
            raise _taken(first, contract.id)
    inserted = _insert_contracts(
        session, [contract for contract in unique.values() if contract.replaces is None]
    )
    for contract in unique.values():
        if contract.replaces is not None:
            inserted |= _insert_contracts(session, [contract])
    return inserted


def _insert_contracts(session: Session, contracts: list[Contract]) -> set[str]:
    """`record_contracts` for contracts with distinct ids (and at most one that replaces)."""
    if not contracts:
        return set()
    _require(
        session,
        CustomerRow.id,
        [contract.customer_id for contract in contracts],
        NO_CUSTOMER,
    )
    _require(
        session,
        PlanRow.code,
        [contract.plan.code for contract in contracts],
        NO_PLAN,
    )
    _require(
        session,
        ContractRow.id,
        [contract.replaces for contract in contracts if contract.replaces is not None],
        NO_CONTRACT,
    )
    rows = [
        {
            "id": contract.id,
            "customer_id": contract.customer_id,
            "location_id": contract.location.id,
            "start": contract.start,
            "anchor": contract.anchor,
            "prorate_first_invoice": contract.prorate_first_invoice,
            "replaces_id": contract.replaces,
            **_state_columns(contract),
        }
        for contract in contracts
    ]
    inserted = set(_insert_new_rows(session, ContractRow, rows, key=None, returning="id"))
    there = [contract for contract in contracts if contract.id not in inserted]
    ids = [contract.id for contract in there]
    recorded = dict(_in_chunks(session, ContractRow.id, ContractRow.snapshot, ids))
    for contract in there:
        if contract.id not in recorded:  # the id is free: the replaced contract is taken
            successor = successor_of(session, cast(str, contract.replaces))
            raise Conflict(
                f"Contract {contract.replaces!r} is already replaced by {successor!r}; a contract "
                f"is replaced at most once: cancel {successor!r} first, or leave {contract.id!r} "
                "unlinked."
            )
        stored = Contract.model_validate_json(recorded[contract.id])
        if _identity(stored) != _identity(contract):
            raise _taken(stored, contract.id)
    return inserted


def _taken(recorded: Contract, contract_id: str) -> Conflict:
    return Conflict(
        f"Contract {contract_id!r} already exists (customer {recorded.customer_id!r}, plan "
        f"{recorded.plan.code!r}, from {recorded.start}, at {recorded.price}): "
        "choose another id."
    )


def save_contract(session: Session, contract: Contract) -> None:
    """Store a recorded contract's new state; saving the same state again changes nothing.

    One UPDATE, which matches no row when the stored snapshot is already this state.
    """
    values = {f"new_{name}": value for name, value in _state_columns(contract).items()}
    saved = session.connection().execute(
        _save_state_statement(),
        {"contract_id": contract.id, "new_updated_at": datetime.now(UTC), **values},
    )
    loaded = session.identity_map.get(session.identity_key(ContractRow, contract.id))
    if loaded is not None:
        session.expire(loaded)  # read again if this session reads the contract after saving it
    if (
        cast(CursorResult[Any], saved).rowcount == 0
        and session.get(ContractRow, contract.id) is None
    ):
        raise NotFound(f"No contract {contract.id!r}: record it before saving its state.")


@functools.cache
def _save_state_statement() -> Any:
    """`save_contract`'s UPDATE with bound parameters, built once."""
    table = cast(Table, ContractRow.__table__)
    names = [*_STATE_COLUMN_NAMES, "updated_at"]
    return (
        update(table)
        .where(
            table.c.id == bindparam("contract_id"), table.c.snapshot != bindparam("new_snapshot")
        )
        .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in names})
    )


def get_contract(session: Session, contract_id: str) -> ContractRecord:
    row = session.get(ContractRow, contract_id)
    if row is None:
        raise NotFound(NO_CONTRACT.format(contract_id))
    return _contract_record(row)


def stored_contract(session: Session, contract_id: str) -> Contract | None:
    """The contract as last saved, or None if it was never recorded (one read of its snapshot)."""
    snapshot = session.scalar(select(ContractRow.snapshot).where(ContractRow.id == contract_id))
    return None if snapshot is None else Contract.model_validate_json(snapshot)


def list_contracts(
    session: Session,
    *,
    customer_id: str | None = None,
    location_id: str | None = None,
    status: ContractStatus | None = None,
) -> list[ContractRecord]:
    """Contracts matching every filter given, oldest first."""
    query = select(ContractRow).order_by(ContractRow.created_at, ContractRow.id)
    if customer_id is not None:
        query = query.where(ContractRow.customer_id == customer_id)
    if location_id is not None:
        query = query.where(ContractRow.location_id == location_id)
    if status is not None:
        query = query.where(ContractRow.status == ContractStatus(status).value)
    return [_contract_record(row) for row in session.scalars(query)]


def contract_ids(session: Session) -> set[str]:
    return set(session.scalars(select(ContractRow.id)))


def successor_of(session: Session, contract_id: str) -> str | None:
    """The id of the contract that replaces this one (automated switch or new term), if any."""
    return session.scalar(select(ContractRow.id).where(ContractRow.replaces_id == contract_id))


def has_other_live_contract(
    session: Session, customer_id: str, *, excluding: str, on: date
) -> bool:
    """Whether the customer has another contract that is current or future on `on` (R9): one not
    cancelled nor cancelling by `on`, or one whose end is after `on`. While it has, a deposit
    stays held."""
    query = select(ContractRow.id).where(
        ContractRow.customer_id == customer_id,
        ContractRow.id != excluding,
        or_(
            and_(
                ContractRow.status != ContractStatus.CANCELLED.value,
                or_(ContractRow.cancellation_date.is_(None), ContractRow.cancellation_date > on),
            ),
            ContractRow.end_date > on,
        ),
    )
    return session.scalar(query.limit(1)) is not None


def lock_customer(session: Session, customer_id: str) -> None:
    """Serialize deposit decisions of one customer (R9) until the transaction ends.

    PostgreSQL locks the customer's row; SQLite transactions already begin IMMEDIATE, so there
    it sends nothing.
    """
    if session.get_bind().dialect.name == "sqlite":
        return
    session.execute(select(CustomerRow.id).where(CustomerRow.id == customer_id).with_for_update())


# --- Helpers ---------------------------------------------------------------------------------


def _identity(contract: Contract) -> tuple[str, str, date, Decimal]:
    """What makes a repeated `record_contract` the same contract rather than a clash."""
    return contract.customer_id, contract.plan.code, contract.start, contract.price


_STATE_COLUMN_NAMES = (
    "plan_code",
    "price",
    "status",
    "next_invoice_date",
    "commitment_end",
    "billed_from",
    "billed_through",
    "cancellation_date",
    "cancellation_prorate",
    "next_plan_code",
    "cancel_at_next_invoice",
    "end_date",
    "successor_id",
    "snapshot",
)


def _state_columns(contract: Contract) -> dict[str, Any]:
    """The columns that follow the contract's state, and the snapshot of the whole value."""
    cancellation = contract.cancellation
    change = contract.scheduled_change
    return {
        "plan_code": contract.plan.code,
        "price": contract.price,
        "status": contract.status.value,
        "next_invoice_date": contract.next_invoice_date,
        "commitment_end": contract.commitment_end,
        "billed_from": contract.billed_from,
        "billed_through": contract.billed_through,
        "cancellation_date": None if cancellation is None else cancellation.date,
        "cancellation_prorate": None if cancellation is None else cancellation.prorate,
        "next_plan_code": None
        if change is None or change.next_plan is None
        else change.next_plan.code,
        "cancel_at_next_invoice": change is not None
        and change.kind is ChangeKind.CANCEL_AT_NEXT_INVOICE,
        "end_date": contract.end,
        "successor_id": contract.successor_id,
        "snapshot": contract.model_dump_json(),
    }


def _contract_record(row: ContractRow) -> ContractRecord:
    return ContractRecord(
        contract=Contract.model_validate_json(row.snapshot),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
