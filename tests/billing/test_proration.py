"""Proration (R4): amount × days(span) / days(period), rounded once, half-up, to the minor unit."""

import inspect
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import NamedTuple

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from billing.errors import BillingError
from billing.money import minor_units, quantum
from billing.periods import period_containing
from billing.proration import prorate

CURRENCIES = ["USD", "EUR", "GBP", "JPY", "KRW", "KWD", "BHD"]
CADENCES = ["1 month", "3 months", "1 week", "2 weeks", "1 year"]


@st.composite
def periods(draw: st.DrawFn) -> tuple[date, date]:
    """An anchored period of a random cadence."""
    anchor = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31)))
    every = draw(st.sampled_from(CADENCES))
    day = anchor + timedelta(days=draw(st.integers(-2000, 2000)))
    return period_containing(day, anchor=anchor, every=every)


@st.composite
def amounts(draw: st.DrawFn, currency: str) -> Decimal:
    """A price in `currency`: whole minor units, from one unit to ten million."""
    units = draw(st.integers(1, 10**7 * 10 ** minor_units(currency)))
    return Decimal(units) * quantum(currency)


@st.composite
def priced_periods(draw: st.DrawFn) -> tuple[str, Decimal, date, date]:
    currency = draw(st.sampled_from(CURRENCIES))
    start, end = draw(periods())
    return currency, draw(amounts(currency)), start, end


def _days_into(draw: st.DrawFn, start: date, end: date) -> date:
    return start + timedelta(days=draw(st.integers(0, (end - start).days)))


@settings(max_examples=300)
@given(priced=priced_periods(), data=st.data())
def test_a_period_split_in_two_sums_to_the_full_amount_within_one_minor_unit(
    priced: tuple[str, Decimal, date, date], data: st.DataObject
) -> None:
    currency, amount, start, end = priced
    split = _days_into(data.draw, start, end)

    def part(span_start: date, span_end: date) -> Decimal:
        return prorate(
            amount,
            period_start=start,
            period_end=end,
            start=span_start,
            end=span_end,
            currency=currency,
        )

    assert abs(part(start, split) + part(split, end) - amount) <= quantum(currency)
    assert part(start, end) == amount
    assert part(split, split) == 0


@settings(max_examples=300)
@given(priced=priced_periods(), data=st.data())
def test_a_credit_never_exceeds_what_was_billed_for_the_period(
    priced: tuple[str, Decimal, date, date], data: st.DataObject
) -> None:
    currency, amount, period_start, period_end = priced
    cancelled = _days_into(data.draw, period_start, period_end)
    stub_start = _days_into(data.draw, period_start, cancelled)

    def share(start: date) -> Decimal:
        return prorate(
            amount,
            period_start=period_start,
            period_end=period_end,
            start=start,
            end=period_end,
            currency=currency,
        )

    credit = share(cancelled)
    assert 0 <= credit <= amount  # the period billed at the full price
    assert credit <= share(stub_start)  # or a prorated stub [stub_start, end), stub_start <= D


class Tie(NamedTuple):
    currency: str
    amount: Decimal
    period_start: date
    period_end: date
    start: date
    end: date
    halves: int
    """The exact proration, in half minor units: an odd number."""


@st.composite
def exact_ties(draw: st.DrawFn) -> Tie:
    """A proration whose exact value is a whole number of minor units plus exactly one half.

    With n = days(period) even and k = days(span) odd, amount = c × n/2 minor units (c odd) gives
    amount × k / n = c × k / 2 minor units: an odd number of halves.
    """
    currency = draw(st.sampled_from(CURRENCIES))
    period_start, period_end = draw(periods())
    n = (period_end - period_start).days
    if n % 2:  # make the period even by moving its start (R4 holds for any period)
        period_start -= timedelta(days=1)
        n += 1
    k = draw(st.integers(0, (n - 2) // 2)) * 2 + 1
    c = draw(st.integers(0, 10**4)) * 2 + 1
    start = period_start + timedelta(days=draw(st.integers(0, n - k)))
    return Tie(
        currency=currency,
        amount=Decimal(c * n // 2) * quantum(currency),
        period_start=period_start,
        period_end=period_end,
        start=start,
        end=start + timedelta(days=k),
        halves=c * k,
    )


@settings(max_examples=300)
@given(tie=exact_ties())
@example(  # SPEC §4: 100.10 × 15/28 = 53.625
    tie=Tie(
        currency="USD",
        amount=Decimal("100.10"),
        period_start=date(2027, 2, 1),
        period_end=date(2027, 3, 1),
        start=date(2027, 2, 14),
        end=date(2027, 3, 1),
        halves=10725,
    )
)
def test_exact_ties_round_half_up(tie: Tie) -> None:
    one = quantum(tie.currency)
    exact = Decimal(tie.halves) / 2 * one
    span_days, period_days = (tie.end - tie.start).days, (tie.period_end - tie.period_start).days
    assert tie.amount * span_days / period_days == exact
    result = prorate(
        tie.amount,
        period_start=tie.period_start,
        period_end=tie.period_end,
        start=tie.start,
        end=tie.end,
        currency=tie.currency,
    )
    assert result == exact + one / 2
    if (tie.halves + 1) // 2 % 2:  # banker's rounding would go down to the even neighbour
        assert result != exact.quantize(one, rounding=ROUND_HALF_EVEN)


@settings(max_examples=200)
@given(priced=priced_periods(), data=st.data())
def test_results_have_the_currency_decimals(
    priced: tuple[str, Decimal, date, date], data: st.DataObject
) -> None:
    currency, amount, period_start, period_end = priced
    start = _days_into(data.draw, period_start, period_end)
    result = prorate(
        amount,
        period_start=period_start,
        period_end=period_end,
        start=start,
        end=period_end,
        currency=currency,
    )
    assert result.as_tuple().exponent == -minor_units(currency)
    if currency in {"JPY", "KRW"}:
        assert result == result.to_integral_value()


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [
        ("JPY", "50000", "16129"),
        ("KRW", "50000", "16129"),
        ("KWD", "100.000", "32.258"),
        ("BHD", "100.000", "32.258"),
        ("KWD", "100", "32.258"),
    ],
)
def test_zero_and_three_decimal_currencies(currency: str, amount: str, expected: str) -> None:
    result = prorate(
        Decimal(amount),
        period_start=date(2027, 3, 1),
        period_end=date(2027, 4, 1),
        start=date(2027, 3, 22),
        end=date(2027, 4, 1),
        currency=currency,
    )
    assert str(result) == expected


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2027, 2, 28), date(2027, 3, 10)),  # starts before the period
        (date(2027, 3, 10), date(2027, 4, 2)),  # ends after it
        (date(2027, 3, 20), date(2027, 3, 10)),  # backwards
    ],
)
def test_a_span_outside_its_period_is_refused(start: date, end: date) -> None:
    with pytest.raises(BillingError, match="is not inside the period"):
        prorate(
            Decimal(100),
            period_start=date(2027, 3, 1),
            period_end=date(2027, 4, 1),
            start=start,
            end=end,
            currency="USD",
        )


@pytest.mark.parametrize("period_end", [date(2027, 3, 1), date(2027, 2, 1)])
def test_an_empty_period_is_refused(period_end: date) -> None:
    with pytest.raises(BillingError, match="is empty"):
        prorate(
            Decimal(100),
            period_start=date(2027, 3, 1),
            period_end=period_end,
            start=date(2027, 3, 1),
            end=date(2027, 3, 1),
            currency="USD",
        )


def test_prorate_keeps_its_public_signature() -> None:
    parameters = inspect.signature(prorate).parameters
    assert list(parameters) == ["amount", "period_start", "period_end", "start", "end", "currency"]
    assert parameters["amount"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    for name in ["period_start", "period_end", "start", "end", "currency"]:
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert prorate(
        amount=Decimal("1000.00"),
        period_start=date(2027, 3, 1),
        period_end=date(2027, 4, 1),
        start=date(2027, 3, 21),
        end=date(2027, 4, 1),
        currency="USD",
    ) == Decimal("354.84")
