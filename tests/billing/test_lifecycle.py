"""A contract's life on its dates (R1, R2, R5–R8), walked the way the workflow walks it.

The workflow sleeps until `next_event_date`, calls `advance`, writes the invoice and carries on with
`step.contract`; admin commands arrive in between as `billing.rules` decisions.
"""

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import coverage, rules
from billing.contract import (
    Command,
    Contract,
    ContractStatus,
    InvoiceDraft,
    InvoiceLine,
    LineKind,
    Location,
    Plan,
    new_contract,
)
from billing.lifecycle import Step, advance, describe_next_event, next_event_date, successor_id
from billing.money import minor_units
from billing.periods import is_boundary, period_containing
from billing.proration import prorate

NYC = Location(id="nyc", name="New York", timezone="America/New_York", currency="USD")
HOT = Plan(
    code="HOT", name="Hot desk", location_id="nyc", price=Decimal("1000.00"), deposit=Decimal(200)
)
OFFICE = Plan(
    code="OFFICE",
    name="Office",
    location_id="nyc",
    price=Decimal("1500.00"),
    deposit=Decimal(1000),
    prorate_first_invoice=True,
)
FLEX = Plan(code="FLEX", name="Flex", location_id="nyc", price=Decimal("600.00"))
ADMIN = Command(actor="t")
DAY = timedelta(days=1)


def contract(
    plan: Plan = HOT,
    *,
    start: date = date(2027, 1, 1),
    anchor: date | None = None,
    prorate_first_invoice: bool = False,
    location: Location = NYC,
    id: str = "c1",
) -> Contract:
    return new_contract(
        id=id,
        customer_id="u1",
        location=location,
        plan=plan,
        start=start,
        anchor=anchor,
        prorate_first_invoice=prorate_first_invoice,
    )


def walk(c: Contract, until: date) -> tuple[Contract, list[Step]]:
    """Advance through every event up to and including `until`, as the workflow does."""
    steps: list[Step] = []
    while (day := next_event_date(c)) is not None and day <= until:
        step = advance(c)
        assert step.day == day
        steps.append(step)
        c = step.contract
    return c, steps


def invoices(steps: list[Step]) -> list[InvoiceDraft]:
    return [step.invoice for step in steps if step.invoice is not None]


def plan_lines(steps: list[Step]) -> list[InvoiceLine]:
    return [
        line for invoice in invoices(steps) for line in invoice.lines if line.kind is LineKind.PLAN
    ]


def spans(lines: list[InvoiceLine]) -> list[tuple[date, date]]:
    return [(line.period_start, line.period_end) for line in lines]


def decided(result: rules.Decision | rules.Rejection) -> Contract:
    assert isinstance(result, rules.Decision), result
    return result.contract


def only_step(steps: list[Step]) -> Step:
    assert len(steps) == 1, [step.summary for step in steps]
    return steps[0]


# --- R1/R2: billed in advance, anchored without drift -------------------------------------------


def test_monthly_from_the_31st_clamps_to_month_length_and_never_drifts() -> None:
    c, steps = walk(contract(start=date(2027, 1, 31)), until=date(2028, 3, 31))
    dates = [invoice.issue_date for invoice in invoices(steps)]
    assert dates == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
        date(2027, 6, 30),
        date(2027, 7, 31),
        date(2027, 8, 31),
        date(2027, 9, 30),
        date(2027, 10, 31),
        date(2027, 11, 30),
        date(2027, 12, 31),
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]
    for invoice, next_date in zip(invoices(steps), [*dates[1:], date(2028, 4, 30)], strict=True):
        (line,) = invoice.lines
        assert line.kind is LineKind.PLAN
        assert (line.period_start, line.period_end) == (invoice.issue_date, next_date)
        assert line.amount == Decimal("1000.00")
        assert invoice.contract_id == "c1"
        assert not invoice.settle_deposit
    assert [invoice.deposit_due for invoice in invoices(steps)] == [Decimal(200)] + [0] * 14
    assert c.status is ContractStatus.ACTIVE
    assert next_event_date(c) == c.next_invoice_date == date(2028, 4, 30)
    assert (c.billed_from, c.billed_through) == (date(2028, 3, 31), date(2028, 4, 30))


def test_first_advance_starts_the_inactive_contract() -> None:
    c = contract(start=date(2027, 3, 1))
    assert c.status is ContractStatus.INACTIVE
    assert next_event_date(c) == date(2027, 3, 1)
    assert describe_next_event(c) == "Starts on 2027-03-01 with its first invoice."
    step = advance(c)
    assert step.contract.status is ContractStatus.ACTIVE
    assert step.successor is None
    assert describe_next_event(step.contract) == "Next invoice on 2027-04-01."


@pytest.mark.parametrize(
    ("every", "days"),
    [("1 week", 7), ("2 weeks", 14)],
)
def test_weekly_periods_are_whole_weeks_from_the_anchor(every: str, days: int) -> None:
    plan = HOT.model_copy(update={"every": every})
    start = date(2027, 12, 29)
    _, steps = walk(contract(plan, start=start), until=start + timedelta(days=days * 9))
    assert spans(plan_lines(steps)) == [
        (start + timedelta(days=days * n), start + timedelta(days=days * (n + 1)))
        for n in range(10)
    ]
    assert {line.amount for line in plan_lines(steps)} == {Decimal("1000.00")}


def test_yearly_from_29_february_falls_on_28_february_in_common_years() -> None:
    plan = HOT.model_copy(update={"every": "1 year"})
    _, steps = walk(contract(plan, start=date(2028, 2, 29)), until=date(2032, 3, 1))
    assert spans(plan_lines(steps)) == [
        (date(2028, 2, 29), date(2029, 2, 28)),
        (date(2029, 2, 28), date(2030, 2, 28)),
        (date(2030, 2, 28), date(2031, 2, 28)),
        (date(2031, 2, 28), date(2032, 2, 29)),
        (date(2032, 2, 29), date(2033, 2, 28)),
    ]
    assert {line.amount for line in plan_lines(steps)} == {Decimal("1000.00")}


# --- R8: a stub before the anchor ---------------------------------------------------------------


@pytest.mark.parametrize("anchor", [date(2027, 4, 1), date(2027, 1, 1), date(2028, 6, 1)])
def test_stub_prorated_with_the_flag_then_full_price(anchor: date) -> None:
    """SPEC §4: 1,500.00/month from 2027-03-21, billing day 1 → 532.26, then 1,500.00."""
    c = contract(OFFICE, start=date(2027, 3, 21), anchor=anchor, prorate_first_invoice=True)
    _, steps = walk(c, until=date(2027, 5, 1))
    first, second, third = invoices(steps)
    assert [(line.period_start, line.period_end, line.amount) for line in first.lines] == [
        (date(2027, 3, 21), date(2027, 4, 1), Decimal("532.26"))
    ]
    assert first.issue_date == date(2027, 3, 21)
    assert first.deposit_due == Decimal(1000)
    assert [(line.period_start, line.period_end, line.amount) for line in second.lines] == [
        (date(2027, 4, 1), date(2027, 5, 1), Decimal("1500.00"))
    ]
    assert second.deposit_due == 0
    assert third.deposit_due == 0
    assert third.lines[0].amount == Decimal("1500.00")


def test_stub_from_the_17th_to_the_1st_is_prorated_over_its_whole_period() -> None:
    c = contract(
        OFFICE, start=date(2027, 5, 17), anchor=date(2027, 5, 1), prorate_first_invoice=True
    )
    _, steps = walk(c, until=date(2027, 6, 1))
    assert [(line.period_start, line.period_end, line.amount) for line in plan_lines(steps)] == [
        (date(2027, 5, 17), date(2027, 6, 1), Decimal("725.81")),  # 1,500 × 15/31
        (date(2027, 6, 1), date(2027, 7, 1), Decimal("1500.00")),
    ]


def test_stub_without_the_flag_is_charged_the_full_price() -> None:
    c = contract(OFFICE, start=date(2027, 3, 21), anchor=date(2027, 4, 1))
    _, steps = walk(c, until=date(2027, 4, 1))
    assert [(line.period_start, line.period_end, line.amount) for line in plan_lines(steps)] == [
        (date(2027, 3, 21), date(2027, 4, 1), Decimal("1500.00")),
        (date(2027, 4, 1), date(2027, 5, 1), Decimal("1500.00")),
    ]
    assert [invoice.deposit_due for invoice in invoices(steps)] == [Decimal(1000), 0]


# --- R7: manual cancellation --------------------------------------------------------------------


def billed_march(plan: Plan = HOT) -> Contract:
    """Active since 2027-01-01, billed for [2027-03-01, 2027-04-01)."""
    c, _ = walk(contract(plan), until=date(2027, 3, 1))
    assert (c.billed_from, c.billed_through) == (date(2027, 3, 1), date(2027, 4, 1))
    return c


def test_cancel_before_next_invoice_date_prorated_credits_the_unserved_days() -> None:
    """SPEC §4: 1,000.00/month, [2027-03-01, 2027-04-01), D = 2027-03-21 → −354.84 on 03-21."""
    c = decided(
        rules.cancel(
            billed_march(),
            date=date(2027, 3, 21),
            prorate=True,
            requested=ADMIN,
            today=date(2027, 3, 10),
        )
    )
    assert next_event_date(c) == date(2027, 3, 21)
    assert describe_next_event(c) == "Ends on 2027-03-21 (manual cancellation)."
    after, steps = walk(c, until=date(2028, 1, 1))
    step = only_step(steps)
    assert step.day == date(2027, 3, 21)
    assert step.invoice is not None
    assert [
        (line.kind, line.period_start, line.period_end, line.amount) for line in step.invoice.lines
    ] == [(LineKind.PRORATION_CREDIT, date(2027, 3, 21), date(2027, 4, 1), Decimal("-354.84"))]
    assert step.invoice.issue_date == date(2027, 3, 21)
    assert step.invoice.settle_deposit
    assert step.invoice.deposit_due == 0
    assert after.status is ContractStatus.CANCELLED
    assert after.end == date(2027, 3, 21)
    assert next_event_date(after) is None
    assert describe_next_event(after) == "Ended on 2027-03-21."
    with pytest.raises(ValueError, match="has ended"):
        advance(after)


def test_cancel_before_next_invoice_date_without_prorate_credits_nothing() -> None:
    c = decided(
        rules.cancel(
            billed_march(),
            date=date(2027, 3, 21),
            prorate=False,
            requested=ADMIN,
            today=date(2027, 3, 10),
        )
    )
    after, steps = walk(c, until=date(2028, 1, 1))
    step = only_step(steps)
    assert step.invoice is not None
    assert step.invoice.lines == ()
    assert step.invoice.settle_deposit
    assert after.status is ContractStatus.CANCELLED
    assert after.end == date(2027, 3, 21)


def test_cancel_on_the_next_invoice_date_issues_nothing_more() -> None:
    c = decided(
        rules.cancel(
            billed_march(),
            date=date(2027, 4, 1),
            prorate=True,
            requested=ADMIN,
            today=date(2027, 3, 10),
        )
    )
    after, steps = walk(c, until=date(2028, 1, 1))
    step = only_step(steps)
    assert step.invoice is not None
    assert step.invoice.lines == ()
    assert after.end == date(2027, 4, 1)


@pytest.mark.parametrize(
    ("prorate_flag", "covered_to", "last_amount"),
    [(True, date(2027, 5, 11), Decimal("193.55")), (False, date(2027, 6, 1), Decimal("600.00"))],
)
def test_cancel_after_next_invoice_date_cuts_the_last_invoice(
    prorate_flag: bool, covered_to: date, last_amount: Decimal
) -> None:
    """SPEC §4: 600.00/month, next invoice 05-01, D = 05-11 → the 05-01 invoice is the last.
    Prorated it covers the days served; not prorated, the whole period it charges (R7)."""
    c, _ = walk(contract(FLEX), until=date(2027, 4, 1))
    assert c.next_invoice_date == date(2027, 5, 1)
    c = decided(
        rules.cancel(
            c,
            date=date(2027, 5, 11),
            prorate=prorate_flag,
            requested=ADMIN,
            today=date(2027, 4, 15),
        )
    )
    assert next_event_date(c) == date(2027, 5, 1)
    after, steps = walk(c, until=date(2028, 1, 1))
    last_invoice, end = steps
    assert last_invoice.invoice is not None
    assert [
        (line.kind, line.period_start, line.period_end, line.amount)
        for line in last_invoice.invoice.lines
    ] == [(LineKind.PLAN, date(2027, 5, 1), covered_to, last_amount)]
    assert not last_invoice.invoice.settle_deposit
    assert end.day == date(2027, 5, 11)
    assert end.invoice is not None
    assert end.invoice.lines == ()
    assert end.invoice.settle_deposit
    assert after.status is ContractStatus.CANCELLED
    assert after.end == date(2027, 5, 11)


def test_cancel_inside_a_stub_prorated_charges_only_the_days_served_from_the_start() -> None:
    """Stub [03-17, 04-01) of the period [03-01, 04-01); cancelled on 03-25 before it starts."""
    c = contract(start=date(2027, 3, 17), anchor=date(2027, 4, 1))
    c = decided(
        rules.cancel(
            c, date=date(2027, 3, 25), prorate=True, requested=ADMIN, today=date(2027, 3, 10)
        )
    )
    after, steps = walk(c, until=date(2028, 1, 1))
    first, end = steps
    assert first.invoice is not None
    assert [(line.period_start, line.period_end, line.amount) for line in first.invoice.lines] == [
        (date(2027, 3, 17), date(2027, 3, 25), Decimal("258.06"))  # 1,000 × 8/31, not 24/31
    ]
    assert first.invoice.deposit_due == Decimal(200)
    assert end.invoice is not None
    assert end.invoice.lines == ()
    assert after.end == date(2027, 3, 25)


def test_cancel_inside_a_stub_without_prorate_charges_the_full_price() -> None:
    c = contract(start=date(2027, 3, 17), anchor=date(2027, 4, 1))
    c = decided(
        rules.cancel(
            c, date=date(2027, 3, 25), prorate=False, requested=ADMIN, today=date(2027, 3, 10)
        )
    )
    _, steps = walk(c, until=date(2028, 1, 1))
    assert [(line.period_start, line.period_end, line.amount) for line in plan_lines(steps)] == [
        (date(2027, 3, 17), date(2027, 4, 1), Decimal("1000.00"))
    ]


def test_cancel_inside_a_billed_stub_credits_at_most_the_stub_charge() -> None:
    """The stub [03-17, 04-01) was billed 1,000.00 in full; D = 03-25 credits [03-25, 04-01)."""
    c, _ = walk(contract(start=date(2027, 3, 17), anchor=date(2027, 4, 1)), until=date(2027, 3, 17))
    c = decided(
        rules.cancel(
            c, date=date(2027, 3, 25), prorate=True, requested=ADMIN, today=date(2027, 3, 20)
        )
    )
    step = only_step(walk(c, until=date(2028, 1, 1))[1])
    assert step.invoice is not None
    assert [
        (line.kind, line.period_start, line.period_end, line.amount) for line in step.invoice.lines
    ] == [(LineKind.PRORATION_CREDIT, date(2027, 3, 25), date(2027, 4, 1), Decimal("-225.81"))]


def test_cancel_on_the_start_date_means_it_never_starts() -> None:
    c = contract(start=date(2027, 3, 17))
    c = decided(
        rules.cancel(
            c, date=date(2027, 3, 17), prorate=True, requested=ADMIN, today=date(2027, 3, 10)
        )
    )
    after, steps = walk(c, until=date(2028, 1, 1))
    step = only_step(steps)
    assert step.invoice is not None
    assert step.invoice.lines == ()
    assert step.invoice.deposit_due == 0
    assert after.status is ContractStatus.CANCELLED


# --- R5: automated change -----------------------------------------------------------------------


def test_scheduled_next_plan_switches_on_the_next_invoice_date() -> None:
    c, _ = walk(contract(HOT), until=date(2027, 2, 1))
    c = decided(
        rules.schedule_change(c, next_plan=OFFICE, requested=ADMIN, today=date(2027, 2, 10))
    )
    assert next_event_date(c) == date(2027, 3, 1)
    assert describe_next_event(c) == "Switches to OFFICE on 2027-03-01."

    old, steps = walk(c, until=date(2027, 3, 1))
    step = only_step(steps)
    assert step.day == date(2027, 3, 1)
    assert step.invoice is not None
    assert step.invoice.lines == ()  # nothing for the old plan's following period
    assert step.invoice.settle_deposit
    assert step.invoice.successor_id == "c1-t2"
    assert old.status is ContractStatus.CANCELLED
    assert old.end == date(2027, 3, 1)
    assert old.successor_id == "c1-t2"
    assert old.scheduled_change is None
    assert next_event_date(old) is None

    new = step.successor
    assert new is not None
    assert new.id == "c1-t2"
    assert new.status is ContractStatus.INACTIVE
    assert new.customer_id == "u1"
    assert new.plan == OFFICE
    assert new.price == Decimal("1500.00")
    assert (new.start, new.anchor) == (date(2027, 3, 1), date(2027, 3, 1))
    assert new.replaces == "c1"
    assert not new.prorate_first_invoice

    new, steps = walk(new, until=date(2027, 4, 1))
    first, second = invoices(steps)
    assert first.issue_date == date(2027, 3, 1)
    assert first.contract_id == "c1-t2"
    assert first.replaces == "c1"
    assert first.deposit_due == Decimal(1000)
    assert [(line.period_start, line.period_end, line.amount) for line in first.lines] == [
        (date(2027, 3, 1), date(2027, 4, 1), Decimal("1500.00"))
    ]
    assert second.deposit_due == 0
    assert new.status is ContractStatus.ACTIVE


def test_switch_from_a_31st_anchor_starts_the_new_contract_on_the_clamped_date() -> None:
    c, _ = walk(contract(HOT, start=date(2027, 1, 31)), until=date(2027, 1, 31))
    c = decided(rules.schedule_change(c, next_plan=FLEX, requested=ADMIN, today=date(2027, 2, 1)))
    step = advance(c)
    assert step.day == date(2027, 2, 28)
    assert step.successor is not None
    assert step.successor.start == date(2027, 2, 28)
    _, steps = walk(step.successor, until=date(2027, 2, 28))
    assert spans(plan_lines(steps)) == [(date(2027, 2, 28), date(2027, 3, 28))]


def test_successive_switches_number_the_terms() -> None:
    c, _ = walk(contract(HOT), until=date(2027, 1, 1))
    c = decided(rules.schedule_change(c, next_plan=FLEX, requested=ADMIN, today=date(2027, 1, 5)))
    step = advance(c)
    assert step.successor is not None
    second, _ = walk(step.successor, until=date(2027, 2, 1))
    second = decided(
        rules.schedule_change(second, next_plan=HOT, requested=ADMIN, today=date(2027, 2, 5))
    )
    step = advance(second)
    assert step.successor is not None
    assert step.successor.id == "c1-t3"
    assert step.successor.replaces == "c1-t2"


# --- R6: cancel at next invoice date ------------------------------------------------------------


def test_cancel_at_next_invoice_date_ends_without_billing_the_following_period() -> None:
    c = decided(
        rules.cancel_at_next_invoice(billed_march(), requested=ADMIN, today=date(2027, 3, 10))
    )
    assert next_event_date(c) == date(2027, 4, 1)
    assert describe_next_event(c) == "Ends on 2027-04-01 (cancel at next invoice date)."
    after, steps = walk(c, until=date(2028, 1, 1))
    step = only_step(steps)
    assert step.day == date(2027, 4, 1)
    assert step.invoice is not None
    assert step.invoice.lines == ()
    assert step.invoice.settle_deposit
    assert step.successor is None
    assert after.status is ContractStatus.CANCELLED
    assert after.end == date(2027, 4, 1)
    assert after.scheduled_change is None


# --- term ids -----------------------------------------------------------------------------------


def test_successor_id_numbers_terms() -> None:
    assert successor_id("c1") == "c1-t2"
    assert successor_id("c1-t2") == "c1-t3"
    assert successor_id(successor_id(successor_id("c1"))) == "c1-t4"
    assert successor_id("c1-t9") == "c1-t10"


# --- properties ---------------------------------------------------------------------------------

CURRENCIES = {
    "USD": Location(id="nyc", name="New York", timezone="America/New_York", currency="USD"),
    "JPY": Location(id="tyo", name="Tokyo", timezone="Asia/Tokyo", currency="JPY"),
    "KWD": Location(id="kwi", name="Kuwait", timezone="Asia/Kuwait", currency="KWD"),
}
ANCHORS = st.one_of(
    st.sampled_from(
        [
            date(2028, 2, 29),
            date(2027, 1, 31),
            date(2027, 3, 31),
            date(2027, 8, 31),
            date(2028, 1, 30),
        ]
    ),
    st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)),
)
CADENCES = st.sampled_from(["1 week", "2 weeks", "1 month", "3 months", "1 year"])
FIVE_YEARS = timedelta(days=5 * 365 + 1)


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    location = CURRENCIES[currency]
    price = Decimal(draw(st.integers(1, 10**8))).scaleb(-minor_units(currency))
    plan = Plan(
        code="P",
        name="Plan",
        location_id=location.id,
        price=price,
        every=draw(CADENCES),
        deposit=Decimal(draw(st.integers(0, 1000))),
        prorate_first_invoice=True,
    )
    anchor = draw(ANCHORS)
    start = anchor + timedelta(days=draw(st.integers(-400, 400)))
    return contract(
        plan,
        start=start,
        anchor=anchor,
        prorate_first_invoice=draw(st.booleans()),
        location=location,
    )


def assert_tiles(c: Contract, lines: list[InvoiceLine], end: date) -> None:
    """Plan lines cover [c.start, end) with no gap or overlap, each inside one anchored period."""
    assert lines, "a contract that runs at least a day is billed"
    assert lines[0].period_start == c.start
    assert lines[-1].period_end == end
    for before, after in pairwise(lines):
        assert before.period_end == after.period_start
    for n, line in enumerate(lines):
        assert line.period_start < line.period_end
        period_start, period_end = period_containing(
            line.period_start, anchor=c.anchor, every=c.plan.every
        )
        assert line.period_end <= period_end
        assert n == 0 or line.period_start == period_start
        if line.period_start == period_start and line.period_end == period_end:
            assert line.amount == c.price
        else:
            assert 0 <= line.amount <= c.price


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=contracts())
def test_five_years_of_plan_lines_tile_from_the_start(c: Contract) -> None:
    until = c.start + FIVE_YEARS
    after, steps = walk(c, until=until)
    lines = plan_lines(steps)
    for invoice in invoices(steps):
        assert [line.period_start for line in invoice.lines] == [invoice.issue_date]
    assert after.status is ContractStatus.ACTIVE
    assert after.next_invoice_date is not None
    assert after.next_invoice_date > until
    assert is_boundary(after.next_invoice_date, anchor=c.anchor, every=c.plan.every)
    assert_tiles(c, lines, after.next_invoice_date)
    assert [invoice.deposit_due for invoice in invoices(steps)] == [c.plan.deposit] + [0] * (
        len(lines) - 1
    )


def walk_periods(c: Contract, periods: int) -> tuple[Contract, list[Step]]:
    steps: list[Step] = []
    for _ in range(periods):
        step = advance(c)
        steps.append(step)
        c = step.contract
    return c, steps


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    c=contracts(),
    periods=st.integers(0, 12),
    days=st.integers(0, 3 * 365),
    prorate_flag=st.booleans(),
)
def test_a_cancellation_at_any_point_ends_the_tiling_on_its_date(
    c: Contract, periods: int, days: int, prorate_flag: bool
) -> None:
    """Decided before the start or after some invoice; D before, on or after the next one."""
    original = c
    c, steps = walk_periods(c, periods)
    today = c.start - DAY if c.billed_from is None else c.billed_from
    end = max(today, c.start + DAY) + timedelta(days=days)
    billed_through = c.billed_through
    c = decided(rules.cancel(c, date=end, prorate=prorate_flag, requested=ADMIN, today=today))
    after, rest = walk(c, until=end + FIVE_YEARS)
    steps += rest
    assert after.status is ContractStatus.CANCELLED
    assert after.end == end
    assert rest[-1].day == end
    lines = plan_lines(steps)
    credits = [
        line
        for invoice in invoices(steps)
        for line in invoice.lines
        if line.kind is LineKind.PRORATION_CREDIT
    ]
    if billed_through is not None and end < billed_through:
        # Already billed beyond D: the plan lines run to the end of the billed period.
        assert_tiles(original, lines, billed_through)
        assert coverage.check_contract(after, [*lines, *credits]) == []
        if prorate_flag:
            (credit,) = credits
            assert (credit.period_start, credit.period_end) == (end, billed_through)
            assert -lines[-1].amount <= credit.amount <= 0
        else:
            assert credits == []
        return
    assert credits == []
    # Not prorated, a last period cut at D is charged, and covered, in full (R7).
    last_period_end = period_containing(
        end - DAY, anchor=original.anchor, every=original.plan.every
    )[1]
    assert_tiles(original, lines, end if prorate_flag else last_period_end)
    assert coverage.check_contract(after, [*lines, *credits]) == []
    last = lines[-1]
    period_start, period_end = period_containing(
        last.period_start, anchor=original.anchor, every=original.plan.every
    )
    if prorate_flag:
        assert last.amount == prorate(
            original.price,
            period_start=period_start,
            period_end=period_end,
            start=last.period_start,
            end=end,
            currency=original.currency,
        )
    elif last.period_start == period_start or not original.prorate_first_invoice:
        assert last.amount == original.price


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=contracts(), periods=st.integers(1, 12))
def test_a_switch_hands_over_on_the_next_invoice_date_without_gap_or_overlap(
    c: Contract, periods: int
) -> None:
    original = c
    c, steps = walk_periods(c, periods)
    day = c.next_invoice_date
    assert day is not None
    next_plan = c.plan.model_copy(update={"code": "NEXT", "price": c.plan.price + 1})
    c = decided(rules.schedule_change(c, next_plan=next_plan, requested=ADMIN, today=day - DAY))
    step = advance(c)
    assert step.day == day
    assert step.successor is not None
    assert step.contract.end == day
    assert_tiles(original, plan_lines(steps), day)
    new, new_steps = walk(step.successor, until=day)
    (first,) = plan_lines(new_steps)
    assert first.period_start == day
    assert first.amount == next_plan.price
    assert new.next_invoice_date == first.period_end


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=contracts(), periods=st.integers(1, 30), prorate_flag=st.booleans(), data=st.data())
def test_a_cancellation_inside_the_billed_period_credits_at_most_what_was_billed(
    c: Contract, periods: int, prorate_flag: bool, data: st.DataObject
) -> None:
    c, steps = walk_periods(c, periods)
    billed = plan_lines(steps)[-1]
    assert (billed.period_start, billed.period_end) == (c.billed_from, c.billed_through)
    day = data.draw(st.dates(min_value=billed.period_start, max_value=billed.period_end - DAY))
    # today may be after D: a retroactive cancellation inside the billed period.
    today = data.draw(st.dates(min_value=billed.period_start, max_value=billed.period_end - DAY))
    c = decided(rules.cancel(c, date=day, prorate=prorate_flag, requested=ADMIN, today=today))
    assert next_event_date(c) == day
    after, ending = walk(c, until=day + FIVE_YEARS)
    step = only_step(ending)
    assert step.day == day
    assert step.invoice is not None
    assert step.invoice.settle_deposit
    assert after.end == day
    if not prorate_flag:
        assert step.invoice.lines == ()
        return
    (credit,) = step.invoice.lines
    assert credit.kind is LineKind.PRORATION_CREDIT
    assert (credit.period_start, credit.period_end) == (day, billed.period_end)
    assert -billed.amount <= credit.amount <= 0
