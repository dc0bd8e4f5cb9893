"""A contract's life on the time-skipping server: stub, full periods, a worker killed midway."""

import calendar
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from billing.contract import Command, Customer, Location, Plan, new_contract
from store import repository
from store.db import Database
from termshift.services import catalog
from termshift.services.contracts import create_contract
from tests.support.clock import add_months, server_clock
from tests.support.temporal import new_task_queue, running_worker, sleep_until

TZ = "Europe/Berlin"
ADMIN = Command(actor="test", reason="billing cycle test")


def seed(database: Database, *, suffix: str, price: str = "1500.00") -> tuple[Location, Plan]:
    location = Location(id=f"ber-{suffix}", name="Berlin Mitte", timezone=TZ, currency="EUR")
    plan = Plan(
        code=f"desk-{suffix}",
        name="Hot desk",
        location_id=location.id,
        price=Decimal(price),
        prorate_first_invoice=True,
    )
    catalog.add_location(database, location, ADMIN)
    catalog.add_plan(database, plan, ADMIN)
    catalog.add_customer(
        database,
        Customer(
            id=f"cu-{suffix}", name="Ada Lovelace", email="ada@example.com", location_id=location.id
        ),
        ADMIN,
    )
    return location, plan


@pytest.mark.parametrize("prorate_first_invoice", [True, False], ids=["prorated", "full-stub"])
async def test_fourteen_months_from_the_17th_with_billing_day_1(
    time_env: WorkflowEnvironment, database: Database, prorate_first_invoice: bool
) -> None:
    suffix = "p" if prorate_first_invoice else "f"
    location, plan = seed(database, suffix=suffix)
    clock = await server_clock(time_env, TZ)
    first_of_month = clock.month(2)
    start = first_of_month.replace(day=17)
    contract = new_contract(
        id=f"cycle-{suffix}",
        customer_id=f"cu-{suffix}",
        location=location,
        plan=plan,
        start=start,
        anchor=first_of_month,
        prorate_first_invoice=prorate_first_invoice,
    )
    task_queue = new_task_queue()
    client = time_env.client
    async with running_worker(client, database, task_queue, cached=False):
        view = await create_contract(client, contract, ADMIN, task_queue=task_queue)
        assert view.registered
        assert view.next_event_date == start
        await sleep_until(time_env, add_months(first_of_month, 7) + timedelta(days=3), TZ)
    # The worker is gone (as if killed); a new one takes over mid-life.
    async with running_worker(client, database, task_queue):
        await sleep_until(time_env, add_months(start, 14), TZ)
        state = await client.get_workflow_handle(f"contract-{contract.id}").query("state")

    with database.session() as session:
        invoices = repository.list_invoices(session, contract_id=contract.id)

    stub_days = calendar.monthrange(start.year, start.month)[1]
    stub_amount = (
        (Decimal("1500.00") * (stub_days - 16) / stub_days).quantize(Decimal("0.01"))
        if prorate_first_invoice
        else Decimal("1500.00")
    )
    expected = [(start, start, add_months(first_of_month, 1), stub_amount)]
    for n in range(1, 15):
        expected.append(
            (
                add_months(first_of_month, n),
                add_months(first_of_month, n),
                add_months(first_of_month, n + 1),
                Decimal("1500.00"),
            )
        )
    plan_lines = [
        (invoice.issue_date, line.period_start, line.period_end, line.amount)
        for invoice in invoices
        for line in invoice.lines
        if line.kind.value == "plan"
    ]
    assert plan_lines == expected
    assert [invoice.issue_date for invoice in invoices] == [row[0] for row in expected]
    first = invoices[0]
    assert [line.kind.value for line in first.lines] == ["plan"]  # plan has no deposit
    assert state["contract"]["status"] == "active"
    assert state["invoices_issued"] == 15
    assert state["contract"]["next_invoice_date"] == str(add_months(first_of_month, 15))
