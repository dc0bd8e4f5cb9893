"""`billing.coverage`: R20 checked on one contract's lines — what it finds, and what it must not.

Each case plays the rules through `tests.support.billing_model.World` (as the workflow plays them)
and then checks the lines, or tampers with them as a bad write or a hand edit would. The cases
named after a finding are regressions: each failed before its fix.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.contract import InvoiceLine, LineKind, Location
from billing.coverage import ViolationKind, check_contract, check_deposits, value_of_days
from tests.support.billing_model import World, plan

PARIS = Location(id="par", name="Paris", timezone="Europe/Paris", currency="EUR")


def world(today: date, *, price: str = "1234.56", every: str = "1 month") -> World:
    return World(location=PARIS, plans={"a": plan("a", PARIS, price, every, "0")}, today=today)


def started(
    today: date,
    start: date,
    *,
    price: str = "1234.56",
    every: str = "1 month",
    anchor: date | None = None,
    prorate_first_invoice: bool = False,
) -> World:
    played = world(today, price=price, every=every)
    played.create(
        "c1",
        customer="Ada",
        plan="a",
        start=start,
        anchor=anchor or start,
        prorate_first_invoice=prorate_first_invoice,
    )
    return played


def lines_of(played: World) -> list[InvoiceLine]:
    return played.lines["c1"]


# --- the findings, as regressions ---------------------------------------------------------------


def test_an_undone_prorated_cut_bills_the_days_it_cut_off() -> None:
    """1,234.56/month from 2026-12-05, cancelled for 12-25 with proration before it starts: the
    first invoice bills 796.49 for [12-05, 12-25); undone on 12-05, the days [12-25, 2027-01-05)
    are invoiced that day for 438.07, and nothing is left unbilled."""
    played = started(date(2026, 12, 1), date(2026, 12, 5))
    played.cancel("c1", date(2026, 12, 25), prorate=True)
    played.advance(4)
    assert [(line.period_start, line.period_end, line.amount) for line in lines_of(played)] == [
        (date(2026, 12, 5), date(2026, 12, 25), Decimal("796.49"))
    ]
    assert played.violations() == []  # cut at 12-25 while it is still cancelled

    played.uncancel("c1")

    assert played.refused == []
    assert [(line.period_start, line.period_end, line.amount) for line in lines_of(played)] == [
        (date(2026, 12, 5), date(2026, 12, 25), Decimal("796.49")),
        (date(2026, 12, 25), date(2027, 1, 5), Decimal("438.07")),
    ]
    assert played.contracts["c1"].billed_through == date(2027, 1, 5)
    played.advance(70)
    assert played.violations() == []


def test_the_gap_an_undone_cut_used_to_leave_is_found() -> None:
    played = started(date(2026, 12, 1), date(2026, 12, 5))
    played.cancel("c1", date(2026, 12, 25), prorate=True)
    played.advance(4)
    played.uncancel("c1")
    del played.lines["c1"][1]  # the undo's line, as before the fix

    [gap] = played.violations()

    assert gap.kind is ViolationKind.GAP
    assert (gap.start, gap.end, gap.days) == (date(2026, 12, 25), date(2027, 1, 5), 11)
    assert gap.amount == Decimal("438.07")
    assert "438.07 EUR not charged" in gap.detail


def test_an_unprorated_cut_covers_the_period_it_charges() -> None:
    """Without proration the last invoice charges the whole period, and its line says so (R7)."""
    played = started(date(2026, 12, 1), date(2026, 12, 5))
    played.cancel("c1", date(2027, 1, 20), prorate=False)
    played.advance(40)

    last = lines_of(played)[-1]
    assert (last.period_start, last.period_end, last.amount) == (
        date(2027, 1, 5),
        date(2027, 2, 5),
        Decimal("1234.56"),
    )
    assert "ends on 2027-01-20, not prorated" in last.description
    played.advance(30)
    assert played.contracts["c1"].end == date(2027, 1, 20)
    assert played.violations() == []


def test_a_prorated_stub_cancelled_inside_it_without_proration_stands() -> None:
    """The stub was charged prorated for its days; a cancellation inside it credits nothing."""
    played = started(
        date(2027, 1, 10),
        date(2027, 1, 10),
        anchor=date(2027, 1, 1),
        prorate_first_invoice=True,
    )
    played.cancel("c1", date(2027, 1, 20), prorate=False)
    played.advance(15)

    assert played.contracts["c1"].end == date(2027, 1, 20)
    assert played.violations() == []


def test_a_period_billed_before_a_prorated_cancellation_stands_until_its_credit() -> None:
    played = started(
        date(2027, 1, 10),
        date(2027, 1, 10),
        anchor=date(2027, 1, 1),
        prorate_first_invoice=True,
    )
    played.cancel("c1", date(2027, 1, 20), prorate=True)
    assert played.violations() == []  # the stub to 02-01 is billed; the credit comes on 01-20
    played.advance(10)

    credit = lines_of(played)[-1]
    assert credit.kind is LineKind.PRORATION_CREDIT
    assert (credit.period_start, credit.period_end) == (date(2027, 1, 20), date(2027, 2, 1))
    assert played.violations() == []


def test_a_cancellation_on_the_first_day_billed_keeps_the_period_charged() -> None:
    """R7 allows the first day of the period billed; without proration nothing is credited."""
    played = started(date(2027, 1, 1), date(2027, 1, 1), every="1 week")
    played.cancel("c1", date(2027, 1, 1), prorate=False)
    assert played.contracts["c1"].end == date(2027, 1, 1)
    assert played.violations() == []

    played = started(date(2027, 1, 1), date(2027, 1, 2), every="1 week")
    played.cancel("c1", date(2027, 1, 3), prorate=True)
    played.advance(1)
    played.uncancel("c1")
    played.cancel("c1", date(2027, 1, 2), prorate=False)
    assert played.contracts["c1"].end == date(2027, 1, 2)
    assert played.violations() == []


# --- what a tampered database shows --------------------------------------------------------------


def test_a_line_billed_twice_is_an_overlap() -> None:
    played = started(date(2027, 1, 1), date(2027, 1, 1))
    played.advance(40)
    played.lines["c1"].append(lines_of(played)[0])

    [overlap] = played.violations()

    assert overlap.kind is ViolationKind.OVERLAP
    assert (overlap.start, overlap.end) == (date(2027, 1, 1), date(2027, 2, 1))
    assert overlap.amount == Decimal("1234.56")


def test_days_billed_past_the_next_invoice_date_are_an_overlap() -> None:
    played = started(date(2027, 1, 1), date(2027, 1, 1))
    ahead = InvoiceLine(
        kind=LineKind.PLAN,
        period_start=date(2027, 2, 1),
        period_end=date(2027, 3, 1),
        amount=Decimal("1234.56"),
        description="billed ahead",
    )
    played.lines["c1"].append(ahead)

    [overlap] = played.violations()

    assert overlap.kind is ViolationKind.OVERLAP
    assert (overlap.start, overlap.end, overlap.amount) == (
        date(2027, 2, 1),
        date(2027, 3, 1),
        Decimal("1234.56"),
    )


def test_a_credit_for_days_never_charged_is_found() -> None:
    played = started(date(2027, 1, 1), date(2027, 1, 1))
    played.cancel("c1", date(2027, 1, 21), prorate=True)
    played.advance(25)
    credit = lines_of(played)[-1]
    assert credit.kind is LineKind.PRORATION_CREDIT
    played.lines["c1"].append(credit)

    kinds = {violation.kind for violation in played.violations()}

    assert kinds == {ViolationKind.UNCHARGED_CREDIT}


def test_a_line_at_the_wrong_amount_is_found() -> None:
    played = started(date(2027, 1, 1), date(2027, 1, 1))
    first = lines_of(played)[0]
    played.lines["c1"][0] = first.model_copy(update={"amount": Decimal("1234.55")})

    [wrong] = played.violations()

    assert wrong.kind is ViolationKind.WRONG_AMOUNT
    assert wrong.amount == Decimal("-0.01")
    assert "the rules give 1,234.56 EUR" in wrong.detail


def test_a_line_across_two_periods_is_found() -> None:
    played = started(date(2027, 1, 1), date(2027, 1, 1))
    played.advance(40)
    first, second = lines_of(played)
    played.lines["c1"][:] = [
        first.model_copy(update={"period_end": second.period_end}),
        second.model_copy(update={"amount": Decimal(0), "period_start": second.period_end}),
    ]

    kinds = [violation.kind for violation in played.violations()]

    assert ViolationKind.WRONG_AMOUNT in kinds


@pytest.mark.parametrize(
    ("price", "currency", "days", "worth"),
    [
        ("50000", "JPY", 10, Decimal("16129")),
        ("1234.56", "EUR", 11, Decimal("438.07")),
        ("123.457", "KWD", 31, Decimal("123.457")),
    ],
)
def test_the_money_of_a_gap_follows_r4(
    price: str, currency: str, days: int, worth: Decimal
) -> None:
    location = Location(id="x", name="X", timezone="Asia/Tokyo", currency=currency)
    played = World(
        location=location,
        plans={"a": plan("a", location, price, "1 month")},
        today=date(2026, 12, 5),
    )
    contract = played.create(
        "c1",
        customer="Ada",
        plan="a",
        start=date(2026, 12, 5),
        anchor=date(2026, 12, 5),
        prorate_first_invoice=False,
    )
    start = date(2027, 1, 5) - timedelta(days=days) if days < 31 else date(2026, 12, 5)
    assert value_of_days(contract, start, date(2027, 1, 5)) == worth


# --- deposits ------------------------------------------------------------------------------------


def deposit_line(amount: str) -> InvoiceLine:
    kind = LineKind.DEPOSIT if Decimal(amount) > 0 else LineKind.DEPOSIT_REFUND
    return InvoiceLine(
        kind=kind,
        period_start=date(2027, 1, 1),
        period_end=date(2027, 1, 1),
        amount=Decimal(amount),
        description="deposit",
    )


def test_a_deposit_held_as_charged_less_refunded_passes() -> None:
    lines = [deposit_line("200"), deposit_line("300"), deposit_line("-200")]
    assert (
        check_deposits(customer_id="Ada", currency="EUR", deposit_lines=lines, held=Decimal(300))
        is None
    )


def test_a_deposit_that_does_not_add_up_is_found() -> None:
    found = check_deposits(
        customer_id="Ada",
        currency="EUR",
        deposit_lines=[deposit_line("200")],
        held=Decimal(0),
    )

    assert found is not None
    assert found.kind is ViolationKind.DEPOSIT
    assert found.contract_id is None
    assert found.amount == Decimal(-200)
    assert "Holds a deposit of 0.00 EUR" in found.detail


def test_a_contract_with_no_lines_before_it_starts_is_clean() -> None:
    played = started(date(2027, 1, 1), date(2027, 2, 1))
    assert check_contract(played.contracts["c1"], []) == []
