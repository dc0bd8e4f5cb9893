"""Reads and idempotent writes of the billing database.

Every function takes an open `Session` (see `store.db.Database.session`) and returns billing values
or `store.records` records, never ORM rows. Each write is keyed by its business key (R12): repeating
it — an activity retried after a crash, or two workers racing — leaves one row, and the function
says whether this call inserted it. Two transactions inserting the same key concurrently do not
fail: `INSERT ... ON CONFLICT DO NOTHING` makes the second wait for the first and then do nothing.

The statements of a billing date (an invoice, its deposit, the contract's state, the audit entry)
are built once and run on the session's connection, on tables rather than ORM classes: a worker
runs thousands of them at month-end, and the ORM's bookkeeping would be most of their cost.
"""

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Select,
    Table,
    and_,
    bindparam,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billing.contract import (
    ChangeKind,
    Contract,
    ContractStatus,
    Customer,
    InvoiceLine,
    InvoicePurpose,
    LineKind,
    Location,
    Plan,
)
from billing.money import quantum
from store.errors import AlreadyExists, Conflict, NotFound
from store.models import (
    AuditRow,
    Base,
    ContractRow,
    CustomerRow,
    DepositMovementRow,
    InvoiceLineRow,
    InvoiceRow,
    LocationRow,
    PlanRow,
)
from store.records import (
    AuditEntry,
    BilledLine,
    ContractRecord,
    DepositKind,
    DepositMovement,
    IssuedInvoice,
)

NO_PLAN = "No plan {!r}: check the code, or add the plan first."
NO_CUSTOMER = "No customer {!r}: check the id, or add the customer first."
NO_CONTRACT = "No contract {!r}: check the id."

# --- Locations, plans, customers -------------------------------------------------------------


def add_location(session: Session, location: Location) -> bool:
    """Add a location; False if the very same one is already there."""
    inserted = _insert_new(session, LocationRow, location.model_dump(), key=["id"])
    if not inserted and get_location(session, location.id) != location:
        raise AlreadyExists(
            f"Location {location.id!r} already exists with other details: choose another id."
        )
    return inserted


def get_location(session: Session, location_id: str) -> Location:
    row = session.get(LocationRow, location_id)
    if row is None:
        raise NotFound(f"No location {location_id!r}: check the id, or add the location first.")
    return _location(row)


def list_locations(session: Session) -> list[Location]:
    return [_location(row) for row in session.scalars(select(LocationRow).order_by(LocationRow.id))]


def add_plan(session: Session, plan: Plan) -> bool:
    """Add a plan to its location (whose currency it is priced in); False if already there."""
    get_location(session, plan.location_id)
    inserted = _insert_new(session, PlanRow, plan.model_dump(), key=["code"])
    if not inserted and get_plan(session, plan.code) != plan:
        raise AlreadyExists(
            f"Plan {plan.code!r} already exists with other details: choose another code."
        )
    return inserted


def get_plan(session: Session, code: str) -> Plan:
    found = session.execute(_plans().where(PlanRow.code == code)).one_or_none()
    if found is None:
        raise NotFound(NO_PLAN.format(code))
    return _plan(*found)


def list_plans(session: Session, location_id: str | None = None) -> list[Plan]:
    query = _plans().order_by(PlanRow.location_id, PlanRow.code)
    if location_id is not None:
        query = query.where(PlanRow.location_id == location_id)
    return [_plan(row, currency) for row, currency in session.execute(query)]


def add_customer(session: Session, customer: Customer) -> bool:
    """Add a customer of an existing location; False if the very same one is already there."""
    get_location(session, customer.location_id)
    inserted = _insert_new(session, CustomerRow, customer.model_dump(), key=["id"])
    if not inserted and get_customer(session, customer.id) != customer:
        raise AlreadyExists(
            f"Customer {customer.id!r} already exists with other details: choose another id."
        )
    return inserted


def get_customer(session: Session, customer_id: str) -> Customer:
    row = session.get(CustomerRow, customer_id)
    if row is None:
        raise NotFound(NO_CUSTOMER.format(customer_id))
    return _customer(row)


def list_customers(session: Session, location_id: str | None = None) -> list[Customer]:
    query = select(CustomerRow).order_by(CustomerRow.id)
    if location_id is not None:
        query = query.where(CustomerRow.location_id == location_id)
    return [_customer(row) for row in session.scalars(query)]


# --- Contracts -------------------------------------------------------------------------------


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


# --- Invoices --------------------------------------------------------------------------------


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


# --- Deposit ledger (R9) ---------------------------------------------------------------------


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


# --- Audit log (R11) -------------------------------------------------------------------------


def record_audit(
    session: Session,
    *,
    key: str,
    at: datetime,
    actor: str,
    reason: str,
    command: str,
    contract_id: str | None,
    effect: str,
) -> bool:
    """Record what an admin command did, who asked and why; False if `key` is already recorded."""
    entry = AuditEntry(
        key=key,
        at=at,
        actor=actor,
        reason=reason,
        command=command,
        contract_id=contract_id,
        effect=effect,
    )
    return bool(record_audits(session, [entry]))


def record_audits(session: Session, entries: Sequence[AuditEntry]) -> set[str]:
    """Record the entries whose keys are not yet recorded, in one multi-row INSERT; their keys."""
    rows = [entry.model_dump() for entry in entries]
    return set(_insert_new_rows(session, AuditRow, rows, key=["key"], returning="key"))


def audit_entries(session: Session, contract_id: str | None = None) -> list[AuditEntry]:
    """Audit entries, of one contract or all, oldest first."""
    query = select(AuditRow).order_by(AuditRow.at, AuditRow.id)
    if contract_id is not None:
        query = query.where(AuditRow.contract_id == contract_id)
    return [
        AuditEntry(
            key=row.key,
            at=row.at,
            actor=row.actor,
            reason=row.reason,
            command=row.command,
            contract_id=row.contract_id,
            effect=row.effect,
        )
        for row in session.scalars(query)
    ]


# --- Helpers ---------------------------------------------------------------------------------


def _insert(session: Session, row_class: type[Base]) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_nothing`."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(row_class)


def _insert_new(
    session: Session,
    row_class: type[Base],
    values: Mapping[str, Any],
    *,
    key: list[str] | None,
) -> bool:
    """Insert unless a row with the same `key` (with None: any unique key) exists; True if it
    inserted."""
    statement = _insert_if_new(
        session.get_bind().dialect.name,
        row_class,
        tuple(values),
        None if key is None else tuple(key),
    )
    return session.connection().execute(statement, dict(values)).first() is not None


def _insert_new_rows(
    session: Session,
    row_class: type[Base],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: list[str] | None,
    returning: str,
) -> list[Any]:
    """`_insert_new` for many rows of the same columns, sent as multi-row INSERTs; the column
    `returning` of the rows it inserted."""
    if not rows:
        return []
    statement = _insert_if_new(
        session.get_bind().dialect.name,
        row_class,
        tuple(rows[0]),
        None if key is None else tuple(key),
        returning,
    )
    return list(session.connection().scalars(statement, [dict(row) for row in rows]))


IN_CHUNK = 500
"""Values per `IN (...)` list: well under every backend's limit on bound parameters."""


def _in_chunks(session: Session, column: Any, value: Any, keys: Sequence[Any]) -> list[Any]:
    """(key, value) of the rows whose `column` is one of `keys`, a few hundred keys per query."""
    found: list[Any] = []
    for i in range(0, len(keys), IN_CHUNK):
        chunk = keys[i : i + IN_CHUNK]
        rows = session.execute(select(column, value).where(column.in_(chunk)))
        found.extend(tuple(row) for row in rows)
    return found


def _require(session: Session, column: Any, keys: Sequence[str], missing: str) -> None:
    """Raise `NotFound(missing.format(key))` for the first of `keys` with no row."""
    wanted = list(dict.fromkeys(keys))
    there = {key for key, _ in _in_chunks(session, column, column, wanted)}
    for key in wanted:
        if key not in there:
            raise NotFound(missing.format(key))


@functools.cache
def _insert_if_new(
    dialect: str,
    row_class: type[Base],
    columns: tuple[str, ...],
    key: tuple[str, ...] | None,
    returning: str | None = None,
) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING 1 (or the column `returning`) of `columns` as
    bound parameters: built once per shape, so that each call only binds its values (the table's
    own defaults apply)."""
    table = cast(Table, row_class.__table__)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .values({name: bindparam(name, type_=table.c[name].type) for name in columns})
        .on_conflict_do_nothing(index_elements=None if key is None else list(key))
        .returning(literal_column("1") if returning is None else table.c[returning])
    )


def _in_minor_units(amount: Decimal, currency: str) -> Decimal:
    """The amount written with the currency's decimals, whatever scale the backend returned
    (PostgreSQL's NUMERIC(20, 4) returns four), unless that would round it."""
    scaled = amount.quantize(quantum(currency))
    return scaled if scaled == amount else amount


def _location(row: LocationRow) -> Location:
    return Location(id=row.id, name=row.name, timezone=row.timezone, currency=row.currency)


def _plans() -> Select[PlanRow, str]:
    return select(PlanRow, LocationRow.currency).join(
        LocationRow, PlanRow.location_id == LocationRow.id
    )


def _plan(row: PlanRow, currency: str) -> Plan:
    return Plan(
        code=row.code,
        name=row.name,
        location_id=row.location_id,
        price=_in_minor_units(row.price, currency),
        every=row.every,
        deposit=_in_minor_units(row.deposit, currency),
        prorate_first_invoice=row.prorate_first_invoice,
    )


def _customer(row: CustomerRow) -> Customer:
    return Customer(id=row.id, name=row.name, email=row.email, location_id=row.location_id)


def _customer_currency(session: Session, customer_id: str) -> str:
    currency = session.scalar(
        select(LocationRow.currency)
        .join(CustomerRow, CustomerRow.location_id == LocationRow.id)
        .where(CustomerRow.id == customer_id)
    )
    if currency is None:
        raise NotFound(f"No customer {customer_id!r}: check the id.")
    return currency


def _identity(contract: Contract) -> tuple[str, str, date, Decimal]:
    """What makes a repeated `record_contract` the same contract rather than a clash."""
    return contract.customer_id, contract.plan.code, contract.start, contract.price


_STATE_COLUMN_NAMES = (
    "plan_code",
    "price",
    "status",
    "next_invoice_date",
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
