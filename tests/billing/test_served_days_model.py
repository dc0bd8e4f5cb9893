"""R20 as a model-based property: whatever admins do, on whatever days, every served day is billed
exactly once, at the amount the rules give it.

Hypothesis plays random sequences of every command — change, clear-change, cancel at the next
invoice, cancel with and without proration (before, within and after the billed period), uncancel,
new terms and switches — on random days, over billing anchors on the 29th–31st and leap days,
weekly to yearly cadences and currencies with 0, 2 and 3 decimals, through the same pure rules and
lifecycle the workflow runs (`tests.support.billing_model`). After every step, `billing.coverage`
checks the lines of every contract. `tests/simulator/test_served_days.py` plays a sample of such
sequences through the real workflow.
"""

from datetime import date, timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from billing import lifecycle
from billing.contract import Location
from tests.support.billing_model import World, plan

CURRENCIES = {
    # currency: (timezone, price of plan A, price of plan B, deposit)
    "JPY": ("Asia/Tokyo", "50000", "82000", "20000"),
    "EUR": ("Europe/Berlin", "1234.56", "300.10", "200"),
    "KWD": ("Asia/Kuwait", "123.457", "99.999", "50"),
}
CADENCES = ("1 week", "2 weeks", "1 month", "3 months", "1 year")
EDGE_ANCHORS = (
    date(2027, 1, 29),
    date(2027, 1, 30),
    date(2027, 1, 31),
    date(2027, 3, 31),
    date(2027, 8, 31),
    date(2028, 2, 29),
    date(2028, 1, 31),
)


class ServedDaysBilledOnce(RuleBasedStateMachine):
    world: World

    @initialize(
        currency=st.sampled_from(sorted(CURRENCIES)),
        every=st.sampled_from(CADENCES),
        other_every=st.sampled_from(CADENCES),
        first_day=st.dates(date(2027, 1, 1), date(2028, 12, 31)),
        anchor=st.one_of(st.none(), st.sampled_from(EDGE_ANCHORS)),
        start_in=st.one_of(st.just(0), st.integers(0, 40)),
        prorate_first_invoice=st.booleans(),
    )
    def open_location(
        self,
        currency: str,
        every: str,
        other_every: str,
        first_day: date,
        anchor: date | None,
        start_in: int,
        prorate_first_invoice: bool,
    ) -> None:
        timezone, price_a, price_b, deposit = CURRENCIES[currency]
        location = Location(id="loc", name="Location", timezone=timezone, currency=currency)
        plans = {
            "a": plan("a", location, price_a, every, deposit),
            "b": plan("b", location, price_b, other_every, "0"),
        }
        self.world = World(location=location, plans=plans, today=first_day)
        start = first_day + timedelta(days=start_in)
        self.world.create(
            "c1",
            customer="Ada",
            plan="a",
            start=start,
            anchor=start if anchor is None else anchor,
            prorate_first_invoice=prorate_first_invoice,
        )

    def _target(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.world.contracts)), label="contract")

    @rule(days=st.one_of(st.integers(1, 45), st.integers(46, 400)))
    def time_passes(self, days: int) -> None:
        self.world.advance(days)

    @rule(data=st.data(), to=st.sampled_from(["a", "b"]))
    def schedule_change(self, data: st.DataObject, to: str) -> None:
        self.world.schedule_change(self._target(data), to)

    @rule(data=st.data())
    def clear_change(self, data: st.DataObject) -> None:
        self.world.clear_change(self._target(data))

    @rule(data=st.data())
    def cancel_at_next_invoice(self, data: st.DataObject) -> None:
        self.world.cancel_at_next_invoice(self._target(data))

    @rule(data=st.data(), offset=st.integers(-40, 120), prorate=st.booleans())
    def cancel(self, data: st.DataObject, offset: int, prorate: bool) -> None:
        self.world.cancel(
            self._target(data), self.world.today + timedelta(days=offset), prorate=prorate
        )

    @rule(data=st.data(), offset=st.integers(-40, 120), prorate=st.booleans())
    def cancel_within_the_billed_period(
        self, data: st.DataObject, offset: int, prorate: bool
    ) -> None:
        """A date inside the period already billed, or just past it: R7's two cases."""
        contract_id = self._target(data)
        contract = self.world.contracts[contract_id]
        base = contract.billed_from or contract.start
        self.world.cancel(contract_id, base + timedelta(days=abs(offset) % 45), prorate=prorate)

    @rule(data=st.data())
    def uncancel(self, data: st.DataObject) -> None:
        self.world.uncancel(self._target(data))

    @rule(data=st.data(), into=st.integers(1, 400), prorate=st.booleans(), after=st.integers(0, 3))
    def cut_then_undo(self, data: st.DataObject, into: int, prorate: bool, after: int) -> None:
        """R7's undo once the last invoice was cut: cancel on a date after the next invoice
        date, let that invoice be issued, then undo before the date comes."""
        contract_id = self._target(data)
        due = lifecycle.upcoming_invoice_date(self.world.contracts[contract_id])
        if due is None:
            return
        self.world.cancel(contract_id, due + timedelta(days=into), prorate=prorate)
        self.world.advance(max((due - self.world.today).days, 0) + after)
        self.world.uncancel(contract_id)

    @rule(
        data=st.data(),
        to=st.sampled_from(["a", "b"]),
        offset=st.integers(0, 60),
        prorate_first_invoice=st.booleans(),
    )
    def new_term(
        self, data: st.DataObject, to: str, offset: int, prorate_first_invoice: bool
    ) -> None:
        contract_id = self._target(data)
        end = lifecycle.term_end(self.world.contracts[contract_id]) or self.world.today
        start = end + timedelta(days=data.draw(st.sampled_from([0, 0, offset]), label="gap"))
        self.world.new_term(
            contract_id, plan=to, start=start, prorate_first_invoice=prorate_first_invoice
        )

    @rule(
        data=st.data(),
        to=st.sampled_from(["a", "b"]),
        offset=st.integers(-30, 90),
        prorate=st.booleans(),
    )
    def switch(self, data: st.DataObject, to: str, offset: int, prorate: bool) -> None:
        self.world.switch(
            self._target(data),
            plan=to,
            on=self.world.today + timedelta(days=offset),
            prorate=prorate,
        )

    @precondition(lambda self: hasattr(self, "world"))
    @invariant()
    def every_served_day_is_billed_once(self) -> None:
        assert self.world.violations() == []

    def teardown(self) -> None:
        if hasattr(self, "world"):
            for name in self.world.accepted:
                event(f"accepted: {name}")
            for _, name, code in self.world.refused:
                event(f"refused: {name} ({code})")
            event(f"invoices with an undone cut: {self.world.uncancel_invoices > 0}")


ServedDaysBilledOnce.TestCase.settings = settings(
    max_examples=3000,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_served_days_are_billed_once = ServedDaysBilledOnce.TestCase
