"""Money stays exact and instants stay in UTC, on SQLite and PostgreSQL alike."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.exc import StatementError

from store.db import Database
from store.types import Money, UtcDateTime

metadata = MetaData()
probe = Table(
    "probe",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("amount", Money()),
    Column("at", UtcDateTime()),
)


@pytest.fixture
def engine_db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    metadata.create_all(database.engine)
    yield database
    database.dispose()


def _round_trip(database: Database, **values: object) -> tuple[Decimal | None, datetime | None]:
    with database.engine.begin() as connection:
        row_id = connection.execute(insert(probe).values(**values).returning(probe.c.id)).scalar()
        row = connection.execute(
            select(probe.c.amount, probe.c.at).where(probe.c.id == row_id)
        ).one()
    return row.amount, row.at


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("12345678901234.5678"),
        Decimal("-9999999999999999.9999"),
        Decimal("0.1") + Decimal("0.2"),
        Decimal("0.0001"),
        Decimal("1500.00"),
        Decimal("16129"),
        Decimal("0"),
    ],
)
def test_money_round_trips_exactly(engine_db: Database, amount: Decimal) -> None:
    stored, _ = _round_trip(engine_db, amount=amount)
    assert isinstance(stored, Decimal)
    assert stored == amount
    if engine_db.url.get_backend_name() == "sqlite":
        assert str(stored) == str(amount)  # the exponent is kept


def test_money_sums_exactly(engine_db: Database) -> None:
    first, _ = _round_trip(engine_db, amount=Decimal("0.1"))
    second, _ = _round_trip(engine_db, amount=Decimal("0.2"))
    assert first is not None
    assert second is not None
    assert first + second == Decimal("0.3")


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (0.5, TypeError),
        (Decimal("NaN"), ValueError),
        (Decimal("Infinity"), ValueError),
        (Decimal("0.00001"), ValueError),
        (Decimal("10000000000000000"), ValueError),
    ],
)
def test_money_refuses_what_it_cannot_store_exactly(
    engine_db: Database, amount: object, error: type[Exception]
) -> None:
    with pytest.raises(StatementError) as raised:
        _round_trip(engine_db, amount=amount)
    assert isinstance(raised.value.orig, error)


def test_null_money_and_instant(engine_db: Database) -> None:
    assert _round_trip(engine_db, amount=None, at=None) == (None, None)


def test_instants_come_back_aware_in_utc(engine_db: Database) -> None:
    zurich_summer = timezone(timedelta(hours=2))
    at = datetime(2027, 7, 1, 0, 0, 30, 123456, tzinfo=zurich_summer)
    _, stored = _round_trip(engine_db, at=at)
    assert stored == at
    assert stored is not None
    assert stored.tzinfo == UTC
    assert stored.hour == 22


def test_naive_instants_are_refused(engine_db: Database) -> None:
    with pytest.raises(StatementError, match="no timezone"):
        _round_trip(engine_db, at=datetime(2027, 7, 1))  # noqa: DTZ001
