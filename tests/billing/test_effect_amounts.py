"""One source for every amount: what a decision's effect says is what its invoices charge.

For generated contracts (currencies with 0, 2 and 3 decimals, weekly to yearly cadences, stubs,
anchors on month ends) and commands, each amount an effect states is found among the lines the
lifecycle then produces, in the order the effect states them: a cancellation's credit or last
invoice, a switch's first invoice of the new contract, an undone cut's invoice, a new term's
price (a full period's line), its first invoice and its deposit line.
"""

import re
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from billing import lifecycle, rules
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
from billing.deposits import first_invoice_deposit

WHO = Command(actor="model", reason="generated")
DAY = timedelta(days=1)
CURRENCIES = {
    # currency: (price of plan A, price of plan B, deposit of A, deposit of B)
    "JPY": ("50000", "82000", "20000", "30000"),
    "USD": ("1000.00", "600.10", "200", "0"),
    "KWD": ("123.457", "99.999", "50", "75.5"),
}
CADENCES = ("1 week", "2 weeks", "1 month", "3 months", "1 year")


def stated(effect: str, currency: str) -> list[Decimal]:
    """Every amount the sentence states, in order ("1,500.00 USD" → 1500.00)."""
    found = re.findall(rf"(-?\d[\d,]*(?:\.\d+)?) {currency}\b", effect)
    return [Decimal(text.replace(",", "")) for text in found]


def run_to_end(contract: Contract) -> list[InvoiceDraft]:
    """The invoices the lifecycle issues from `contract` until it ends (or switches)."""
    invoices: list[InvoiceDraft] = []
    while lifecycle.next_event_date(contract) is not None:
        step = lifecycle.advance(contract)
        if step.invoice is not None:
            invoices.append(step.invoice)
        contract = step.contract
    return invoices


def lines(invoices: list[InvoiceDraft], kind: LineKind) -> list[InvoiceLine]:
    return [line for invoice in invoices for line in invoice.lines if line.kind is kind]


class World:
    def __init__(self, draw: st.DrawFn) -> None:
        self.currency = draw(st.sampled_from(sorted(CURRENCIES)))
        price_a, price_b, deposit_a, deposit_b = CURRENCIES[self.currency]
        self.location = Location(id="loc", name="Location", timezone="UTC", currency=self.currency)
        self.a = Plan(
            code="A",
            name="Plan A",
            location_id="loc",
            price=Decimal(price_a),
            every=draw(st.sampled_from(CADENCES)),
            deposit=Decimal(deposit_a),
            prorate_first_invoice=True,
        )
        self.b = Plan(
            code="B",
            name="Plan B",
            location_id="loc",
            price=Decimal(price_b),
            every=draw(st.sampled_from(CADENCES)),
            deposit=Decimal(deposit_b),
            prorate_first_invoice=draw(st.booleans()),
        )
        anchor = draw(
            st.one_of(
                st.dates(date(2027, 1, 1), date(2028, 12, 31)),
                st.sampled_from([date(2027, 1, 31), date(2028, 2, 29), date(2027, 8, 31)]),
            )
        )
        start = anchor + timedelta(days=draw(st.integers(0, 45)))
        contract = new_contract(
            id="c1",
            customer_id="u1",
            location=self.location,
            plan=self.a,
            start=start,
            anchor=anchor,
            prorate_first_invoice=draw(st.booleans()),
        )
        for _ in range(draw(st.integers(0, 3))):
            contract = lifecycle.advance(contract).contract
        self.contract = contract
        if contract.status is ContractStatus.INACTIVE:
            self.today = contract.start - timedelta(days=draw(st.integers(0, 20)))
        else:
            assert contract.billed_from is not None
            assert contract.billed_through is not None
            billed = (contract.billed_through - contract.billed_from).days
            self.today = contract.billed_from + timedelta(days=draw(st.integers(0, billed - 1)))

    def cancel(self, draw: st.DrawFn, contract: Contract, *, ahead: bool = False) -> rules.Decision:
        """An accepted manual cancellation, dated from the period billed (or the start) up to a
        year later — or, with `ahead`, after the next invoice date, whose invoice it then cuts."""
        earliest = contract.billed_from or contract.start
        if ahead:
            earliest = (contract.next_invoice_date or contract.start) + DAY
        day = earliest + timedelta(days=draw(st.integers(0, 400)))
        decision = rules.cancel(
            contract, date=day, prorate=draw(st.booleans()), requested=WHO, today=self.today
        )
        assert isinstance(decision, rules.Decision), decision
        return decision


@st.composite
def billing_states(draw: st.DrawFn) -> tuple[World, st.DrawFn]:
    return World(draw), draw


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(billing_states())
def test_a_cancellation_states_its_credit_or_its_last_invoice(
    world_draw: tuple[World, st.DrawFn],
) -> None:
    world, draw = world_draw
    decision = world.cancel(draw, world.contract)
    invoices = run_to_end(decision.contract)
    credits = [-line.amount for line in lines(invoices, LineKind.PRORATION_CREDIT)]
    plans = [line.amount for line in lines(invoices, LineKind.PLAN)]
    said = stated(decision.effect, world.currency)
    if credits:
        event("credit")
        assert said == credits, decision.effect
    elif plans and "Its only invoice" not in decision.effect:
        event("last invoice")
        assert said == [plans[-1]], decision.effect
    else:
        event("no amount")
        assert said == [], decision.effect


@SETTINGS
@given(billing_states())
def test_a_switch_states_the_first_invoice_of_the_new_contract(
    world_draw: tuple[World, st.DrawFn],
) -> None:
    world, _ = world_draw
    if world.contract.status is ContractStatus.INACTIVE:
        world.contract = lifecycle.advance(world.contract).contract
        world.today = world.contract.start
    decision = rules.schedule_change(
        world.contract, next_plan=world.b, requested=WHO, today=world.today
    )
    assert isinstance(decision, rules.Decision), decision
    switch = lifecycle.advance(decision.contract)
    assert switch.successor is not None
    first = lifecycle.advance(switch.successor).invoice
    assert first is not None
    assert stated(decision.effect, world.currency) == [
        line.amount for line in first.lines if line.kind is LineKind.PLAN
    ], decision.effect


@SETTINGS
@given(billing_states())
def test_an_undone_cut_states_what_the_undo_invoices(world_draw: tuple[World, st.DrawFn]) -> None:
    world, draw = world_draw
    decision = world.cancel(draw, world.contract, ahead=draw(st.integers(0, 3)) > 0)
    cancellation = decision.contract.cancellation
    assert cancellation is not None
    contract, today = decision.contract, world.today
    # The workflow bills the dates before the cancellation date (the cut, if the date is ahead).
    steps = draw(st.sampled_from([0, 1, 99]))
    while (due := lifecycle.next_event_date(contract)) is not None and due < cancellation.date:
        if steps == 0:
            break
        contract, today, steps = lifecycle.advance(contract).contract, due, steps - 1
    if today >= cancellation.date:
        return
    undone = rules.uncancel(contract, requested=WHO, today=today)
    assert isinstance(undone, rules.Decision), undone
    billed = [line.amount for line in undone.invoice.lines] if undone.invoice else []
    event("cut invoiced" if billed else "nothing due")
    assert stated(undone.effect, world.currency) == billed, undone.effect


@SETTINGS
@given(billing_states(), st.sampled_from([None, "0", "50", "100000"]))
def test_a_new_term_states_its_price_first_invoice_and_deposit(
    world_draw: tuple[World, st.DrawFn], held: str | None
) -> None:
    world, draw = world_draw
    old = world.cancel(draw, world.contract).contract
    assert old.cancellation is not None
    plan = draw(st.sampled_from([world.a, world.b]))
    start = old.cancellation.date + timedelta(days=draw(st.integers(0, 40)))
    decision = rules.new_term(
        old,
        id="c1-t2",
        plan=plan,
        start=start,
        price=draw(st.sampled_from([None, plan.price + 1])),
        anchor=draw(st.sampled_from([None, start])),
        prorate_first_invoice=plan.prorate_first_invoice and draw(st.booleans()),
        requested=WHO,
        today=world.today,
        deposit_held=None if held is None else Decimal(held),
    )
    assert isinstance(decision, rules.Decision), decision
    term = decision.contract
    # Its first two invoices: the first (a stub or a full period), then a full period, which is
    # the price the term is "at".
    first, full = (step.invoice for step in lifecycle.upcoming(term, events=2))
    assert first is not None
    assert full is not None
    expected = [
        *(line.amount for line in full.lines if line.kind is LineKind.PLAN),
        *(line.amount for line in first.lines if line.kind is LineKind.PLAN),
    ]
    if held is not None:
        deposit = first_invoice_deposit(required=first.deposit_due, inherited=Decimal(held))
        if Decimal(held) > 0:
            expected.append(Decimal(held))
        if deposit.charge > 0:
            expected.append(deposit.charge)  # the `deposit` line the ledger writes
    assert stated(decision.effect, world.currency) == expected, decision.effect
