"""Helpers shared by the repository's modules: the idempotent INSERTs, the `IN (...)` lookups in
chunks, amounts in a currency's minor units, and the `NotFound` messages of several subjects.

Private to `store.repository`; nothing here imports the subject modules.
"""

import functools
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billing.money import quantum
from store.errors import NotFound
from store.models import Base

NO_PLAN = "No plan {!r}: check the code, or add the plan first."
NO_CUSTOMER = "No customer {!r}: check the id, or add the customer first."
NO_CONTRACT = "No contract {!r}: check the id."


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
