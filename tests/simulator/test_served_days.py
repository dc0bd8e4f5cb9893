"""R20 through the real workflow: generated command sequences, played by `termshift simulate`.

Each sequence is generated from a seed by the same model the property tests explore
(`tests.support.billing_model`): random commands of every kind on random days, over month-end and
leap-day anchors, weekly to yearly cadences and currencies with 0, 2 and 3 decimals. The
simulator then plays it on the time-skipping server with the real workflow, activities and
billing database, and
- the R20 check of the stored invoices finds nothing (`violations` is empty), and
- the workflow issued exactly the lines the pure rules give, and refused the same commands.
"""

import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing import lifecycle
from billing.contract import LineKind, Location
from termshift.simulator import parse_scenario, simulate
from tests.support.billing_model import World, plan

SETTINGS = [
    # (currency, timezone, price of a, price of b, cadence of a, cadence of b)
    ("EUR", "Europe/Berlin", "1234.56", "300.10", "1 month", "1 month"),
    ("JPY", "Asia/Tokyo", "50000", "82000", "1 month", "1 week"),
    ("KWD", "Asia/Kuwait", "123.457", "99.999", "3 months", "1 month"),
    ("USD", "America/New_York", "600.00", "7200.00", "2 weeks", "1 year"),
]
ANCHORS = [date(2027, 1, 29), date(2027, 1, 31), date(2027, 8, 31), date(2028, 2, 29)]
SEEDS = range(40)
COMMANDS = 18
KINDS = [
    *["schedule_change"] * 2,
    "clear_change",
    "cancel_at_next_invoice",
    "cancel",
    *["cut"] * 3,
    "uncancel",
    "new_term",
    "switch",
]


def play(seed: int) -> tuple[World, date]:
    """A sequence of commands on random days, played by the model; returns it and its last day."""
    rng = random.Random(seed)
    currency, timezone, price_a, price_b, every_a, every_b = SETTINGS[seed % len(SETTINGS)]
    location = Location(id="loc", name="Location", timezone=timezone, currency=currency)
    plans = {
        "a": plan("a", location, price_a, every_a, deposit=price_b),
        "b": plan("b", location, price_b, every_b),
    }
    first = rng.choice(ANCHORS) - timedelta(days=rng.randint(0, 20))
    world = World(location=location, plans=plans, today=first)
    start = first + timedelta(days=rng.randint(0, 10))
    anchor = rng.choice([start, rng.choice(ANCHORS)])
    world.create(
        "c1",
        customer="Ada",
        plan="a",
        start=start,
        anchor=anchor,
        prorate_first_invoice=rng.random() < 0.5,
    )
    for _ in range(COMMANDS):
        world.advance(rng.choice([1, 2, 5, 12, 20, 35]))
        running = [c for c, contract in world.contracts.items() if contract.end is None]
        target = rng.choice(running or sorted(world.contracts))
        contract = world.contracts[target]
        other = rng.choice(["a", "b"])
        offset = timedelta(days=rng.randint(-10, 60))
        match rng.choice(KINDS):
            case "schedule_change":
                world.schedule_change(target, other)
            case "clear_change":
                world.clear_change(target)
            case "cancel_at_next_invoice":
                world.cancel_at_next_invoice(target)
            case "cancel":
                world.cancel(target, world.today + offset, prorate=rng.random() < 0.5)
            case "cut":  # a last invoice cut at the cancellation date (R7), often undone
                due = lifecycle.upcoming_invoice_date(contract) or world.today
                world.cancel(target, due + abs(offset), prorate=rng.random() < 0.7)
                world.advance(max((due - world.today).days, 0) + rng.randint(0, 2))
                if rng.random() < 0.6:
                    world.uncancel(target)
            case "uncancel":
                world.uncancel(target)
            case "new_term":
                end = lifecycle.term_end(contract) or world.today
                world.new_term(
                    target,
                    plan=other,
                    start=end + rng.choice([timedelta(0), abs(offset)]),
                    prorate_first_invoice=rng.random() < 0.5,
                )
            case _:
                world.switch(
                    target, plan=other, on=world.today + offset, prorate=rng.random() < 0.5
                )
    until = world.today + timedelta(days=45)
    world.advance(45)
    return world, until


BILLING = {LineKind.PLAN.value, LineKind.PRORATION_CREDIT.value}


def model_lines(world: World) -> dict[str, list[tuple[str, date, date, Decimal]]]:
    return {
        contract_id: [
            (line.kind.value, line.period_start, line.period_end, line.amount) for line in lines
        ]
        for contract_id, lines in world.lines.items()
        if lines
    }


@pytest.mark.parametrize("seed", SEEDS)
async def test_a_generated_sequence_bills_every_served_day_once(seed: int) -> None:
    world, until = play(seed)
    scenario = world.scenario(currency=world.location.currency, until=until)

    result = await simulate(parse_scenario(scenario))

    assert result.to_json()["violations"] == []
    played: dict[str, list[tuple[str, date, date, Decimal]]] = defaultdict(list)
    for invoice in result.invoices:
        for line in invoice.lines:
            if line.kind in BILLING:
                played[invoice.contract].append(
                    (line.kind, line.period_start, line.period_end, Decimal(line.amount))
                )
    assert dict(played) == model_lines(world)
    assert [(r.on, r.action) for r in result.rejections] == [
        (on, action) for on, action, _ in world.refused
    ]
