"""Anchored billing periods (R2): every boundary is computed from the anchor, so they never drift.

The n-th boundary of a monthly cadence is the anchor moved n months, its day clamped to the month's
length (anchor 31 Jan → 28/29 Feb → 31 Mar → 30 Apr); yearly boundaries fall on the anchor date
(29 Feb → 28 Feb in common years); weekly boundaries are 7 days apart.
"""

import calendar
from collections.abc import Iterator
from datetime import date, timedelta

from billing.cadence import Cadence, CadenceUnit, parse_cadence
from billing.errors import BillingError


def boundary(anchor: date, every: str | Cadence, n: int) -> date:
    """The n-th period boundary from `anchor` (n may be negative; n = 0 is the anchor)."""
    cadence = parse_cadence(every)
    steps = n * cadence.count
    try:
        if cadence.unit is CadenceUnit.WEEK:
            return anchor + timedelta(weeks=steps)
        months = steps * 12 if cadence.unit is CadenceUnit.YEAR else steps
        year, month0 = divmod(anchor.year * 12 + anchor.month - 1 + months, 12)
        day = min(anchor.day, calendar.monthrange(year, month0 + 1)[1])
        return date(year, month0 + 1, day)
    except (OverflowError, ValueError):
        raise BillingError(f"Billing periods from {anchor} do not reach that far.") from None


def _index_of(day: date, anchor: date, cadence: Cadence) -> int:
    """The n with boundary(n) <= day < boundary(n + 1)."""
    if cadence.unit is CadenceUnit.WEEK:
        return (day - anchor).days // (7 * cadence.count)
    months = (day.year - anchor.year) * 12 + day.month - anchor.month
    per_period = cadence.count * (12 if cadence.unit is CadenceUnit.YEAR else 1)
    n = months // per_period
    # Clamped days can put `day` one period either side of the month-count estimate.
    while boundary(anchor, cadence, n) > day:
        n -= 1
    while boundary(anchor, cadence, n + 1) <= day:
        n += 1
    return n


def period_containing(day: date, *, anchor: date, every: str | Cadence) -> tuple[date, date]:
    """The anchored period `[start, end)` that contains `day` (before or after the anchor)."""
    cadence = parse_cadence(every)
    n = _index_of(day, anchor, cadence)
    return boundary(anchor, cadence, n), boundary(anchor, cadence, n + 1)


def next_boundary(day: date, *, anchor: date, every: str | Cadence) -> date:
    """The first boundary strictly after `day`."""
    return period_containing(day, anchor=anchor, every=every)[1]


def is_boundary(day: date, *, anchor: date, every: str | Cadence) -> bool:
    """Whether `day` starts an anchored period."""
    return period_containing(day, anchor=anchor, every=every)[0] == day


def invoice_dates(start: date, *, anchor: date, every: str | Cadence) -> Iterator[date]:
    """Invoice dates from `start` on: `start` itself, then every anchored boundary after it."""
    cadence = parse_cadence(every)
    yield start
    n = _index_of(start, anchor, cadence) + 1
    while True:
        yield boundary(anchor, cadence, n)
        n += 1
