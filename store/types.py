"""Column types that keep money exact and instants in UTC on SQLite and PostgreSQL alike."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

MONEY_PRECISION = 20
MONEY_SCALE = 4
_MONEY_LIMIT = Decimal(10) ** (MONEY_PRECISION - MONEY_SCALE)
_MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


class Money(TypeDecorator[Decimal]):
    """A `Decimal` amount stored exactly: `NUMERIC(20, 4)` on PostgreSQL, its text on SQLite.

    SQLite has no exact decimal type (its NUMERIC affinity converts to float), so the amount is
    stored as `str(amount)` and read back with `Decimal(text)`, keeping its exponent. Amounts that
    the PostgreSQL column would round or overflow are refused on every backend, so both behave the
    same.
    """

    impl = Numeric(MONEY_PRECISION, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"Money columns take Decimal amounts, not {type(value).__name__}.")
        if not value.is_finite() or abs(value) >= _MONEY_LIMIT:
            raise ValueError(f"The amount {value} does not fit in a money column.")
        if value.quantize(_MONEY_QUANTUM) != value:
            raise ValueError(f"The amount {value} has more than {MONEY_SCALE} decimals.")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value) if dialect.name == "sqlite" else value

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant, stored in UTC; SQLite's naive text comes back marked as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"The instant {value} has no timezone; give an aware datetime.")
        return value.astimezone(UTC)

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002
    ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        return datetime
