"""Anchored periods (R2): they tile time with no gap or overlap, and never drift."""

import calendar
import inspect
from datetime import date, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from billing.cadence import CadenceUnit, parse_cadence
from billing.periods import (
    boundary,
    invoice_dates,
    is_boundary,
    next_boundary,
    period_containing,
)

NAMED_CADENCES = ["1 month", "3 months", "1 week", "2 weeks", "1 year"]

cadences = st.one_of(
    st.sampled_from(NAMED_CADENCES),
    st.builds(lambda n: f"{n} weeks", st.integers(1, 60)),
    st.builds(lambda n: f"{n} months", st.integers(1, 120)),
    st.builds(lambda n: f"{n} years", st.integers(1, 120)),
)
anchors = st.dates(min_value=date(1990, 1, 1), max_value=date(2080, 12, 31))


def _clamped_anchor_day(anchor: date, found: date) -> int:
    """R2: a monthly or yearly boundary falls on the anchor day, clamped to the month's length."""
    return min(anchor.day, calendar.monthrange(found.year, found.month)[1])


@settings(max_examples=150, deadline=None)
@given(anchor=anchors, every=cadences)
@example(anchor=date(2024, 2, 29), every="1 month")
@example(anchor=date(2024, 2, 29), every="1 year")
@example(anchor=date(2024, 2, 29), every="3 months")
@example(anchor=date(2027, 1, 31), every="1 month")
@example(anchor=date(2027, 1, 31), every="3 months")
@example(anchor=date(2027, 8, 31), every="1 month")
@example(anchor=date(2027, 12, 31), every="1 year")
@example(anchor=date(2027, 1, 31), every="1 week")
@example(anchor=date(2027, 1, 31), every="2 weeks")
def test_periods_tile_ten_years_without_gap_or_overlap(anchor: date, every: str) -> None:
    cadence = parse_cadence(every)
    horizon = anchor.replace(year=anchor.year + 10, day=min(anchor.day, 28))
    start, end = period_containing(anchor, anchor=anchor, every=every)
    assert start == anchor
    n = 0
    while start < horizon:
        assert start < end
        assert (start, end) == (boundary(anchor, every, n), boundary(anchor, every, n + 1))
        if cadence.unit is CadenceUnit.WEEK:
            assert (end - start).days == 7 * cadence.count
        else:
            assert start.day == _clamped_anchor_day(anchor, start)
        # The next period starts exactly where this one ends: no gap, no overlap.
        following = period_containing(end, anchor=anchor, every=every)
        assert following[0] == end
        # The last day of the period still belongs to it.
        assert period_containing(end - timedelta(days=1), anchor=anchor, every=every) == (
            start,
            end,
        )
        start, end = following
        n += 1


@settings(max_examples=200, deadline=None)
@given(anchor=anchors, every=cadences, offset=st.integers(-5000, 5000))
@example(anchor=date(2024, 2, 29), every="1 year", offset=-1)
@example(anchor=date(2024, 2, 29), every="1 year", offset=365)
@example(anchor=date(2027, 1, 31), every="1 month", offset=-1)
@example(anchor=date(2027, 1, 31), every="1 month", offset=-31)
@example(anchor=date(2027, 3, 31), every="1 month", offset=-31)
@example(anchor=date(2027, 1, 31), every="2 weeks", offset=-1)
def test_period_containing_contains_the_day_before_and_after_the_anchor(
    anchor: date, every: str, offset: int
) -> None:
    day = anchor + timedelta(days=offset)
    start, end = period_containing(day, anchor=anchor, every=every)
    assert start <= day < end
    assert is_boundary(start, anchor=anchor, every=every)
    assert next_boundary(day, anchor=anchor, every=every) == end
    assert is_boundary(day, anchor=anchor, every=every) == (day == start)
    # Both ends are anchored boundaries, consecutive ones.
    assert period_containing(start, anchor=anchor, every=every) == (start, end)
    assert period_containing(end, anchor=anchor, every=every)[0] == end


def test_yearly_periods_on_29_february_fall_on_28_february_in_common_years() -> None:
    anchor = date(2024, 2, 29)
    assert [boundary(anchor, "1 year", n) for n in range(-1, 6)] == [
        date(2023, 2, 28),
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
        date(2029, 2, 28),
    ]


def test_weekly_periods_are_seven_days_from_the_anchor() -> None:
    anchor = date(2027, 1, 6)
    assert period_containing(date(2027, 1, 5), anchor=anchor, every="1 week") == (
        date(2026, 12, 30),
        date(2027, 1, 6),
    )
    assert period_containing(date(2027, 1, 20), anchor=anchor, every="2 weeks") == (
        date(2027, 1, 20),
        date(2027, 2, 3),
    )


def test_invoice_dates_start_with_the_start_then_follow_the_anchor() -> None:
    dates = invoice_dates(date(2027, 3, 21), anchor=date(2027, 1, 1), every="1 month")
    assert [next(dates) for _ in range(4)] == [
        date(2027, 3, 21),
        date(2027, 4, 1),
        date(2027, 5, 1),
        date(2027, 6, 1),
    ]
    aligned = invoice_dates(date(2027, 3, 1), anchor=date(2027, 1, 1), every="1 month")
    assert [next(aligned) for _ in range(2)] == [date(2027, 3, 1), date(2027, 4, 1)]


def test_period_containing_keeps_its_public_signature() -> None:
    parameters = inspect.signature(period_containing).parameters
    assert list(parameters) == ["day", "anchor", "every"]
    assert parameters["day"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert parameters["anchor"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["every"].kind is inspect.Parameter.KEYWORD_ONLY
    assert period_containing(day=date(2027, 3, 21), anchor=date(2027, 1, 1), every="1 month") == (
        date(2027, 3, 1),
        date(2027, 4, 1),
    )


@pytest.mark.parametrize("every", ["monthly", "0 weeks"])
def test_period_containing_refuses_a_bad_cadence(every: str) -> None:
    with pytest.raises(ValueError, match="Unknown billing cadence"):
        period_containing(date(2027, 1, 1), anchor=date(2027, 1, 1), every=every)
