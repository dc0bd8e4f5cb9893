"""Proration (R4): amount × days(span) / days(period), rounded once, half-up, to the minor unit."""

from datetime import date
from decimal import Decimal

from billing.errors import BillingError
from billing.money import round_money
from billing.periods import period_containing


def prorate(
    amount: Decimal,
    *,
    period_start: date,
    period_end: date,
    start: date,
    end: date,
    currency: str,
) -> Decimal:
    """The share of `amount` for the span `[start, end)` of the period `[period_start, period_end)`.

    A span that is empty is worth nothing; a span that leaves its period is refused.
    """
    if period_end <= period_start:
        raise BillingError(f"The period [{period_start}, {period_end}) is empty.")
    if not period_start <= start <= end <= period_end:
        raise BillingError(
            f"The span [{start}, {end}) is not inside the period [{period_start}, {period_end})."
        )
    days = (end - start).days
    period_days = (period_end - period_start).days
    return round_money(Decimal(amount) * days / period_days, currency)


def prorate_span(
    amount: Decimal, *, anchor: date, every: str, start: date, end: date, currency: str
) -> Decimal:
    """What the days `[start, end)` are worth at `amount` per anchored period (R2), period by
    period: each whole period at `amount`, each part of one prorated (R4) and rounded on its own,
    as the invoices that bill them would be."""
    total = Decimal(0)
    day = start
    while day < end:
        period_start, period_end = period_containing(day, anchor=anchor, every=every)
        piece_end = min(end, period_end)
        total += prorate(
            amount,
            period_start=period_start,
            period_end=period_end,
            start=day,
            end=piece_end,
            currency=currency,
        )
        day = piece_end
    return total
