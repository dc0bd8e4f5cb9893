"""Contracts run for years, through versions: what a newer version wrote, and what an older one
accepted, still decodes and keeps billing (fields unknown here, a currency withdrawn since)."""

import calendar
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from billing.contract import Command, Customer, Location, Plan, new_contract
from billing.errors import UnknownCurrencyError
from store import repository
from store.db import Database
from termshift.services import catalog
from termshift.services.contracts import create_contract
from tests.support.clock import add_months, server_clock
from tests.support.temporal import new_task_queue, running_worker, sleep_until
from tests.support.wire import start_with_input, with_newer_fields
from workflows.messages import Cancel, CommandResult, ContractView

TZ = "Europe/Zagreb"
ADMIN = Command(actor="test", reason="wire tolerance")


def seed(database: Database, *, currency: str, suffix: str) -> tuple[Location, Plan]:
    # Written directly, as a location created while its currency was current.
    location = Location(id=f"zg-{suffix}", name="Zagreb", timezone=TZ, currency=currency)
    plan = Plan(
        code=f"desk-{suffix}",
        name="Hot desk",
        location_id=location.id,
        price=Decimal("999.99"),
        deposit=Decimal("100.00"),
        prorate_first_invoice=True,
    )
    catalog.add_location(database, location, ADMIN)
    catalog.add_plan(database, plan, ADMIN)
    catalog.add_customer(
        database,
        Customer(id=f"cu-{suffix}", name="Ana", email="ana@example.com", location_id=location.id),
        ADMIN,
    )
    return location, plan


def prorated(price: Decimal, days: int, of: int) -> Decimal:
    return (price * days / of).quantize(Decimal("0.01"))


async def test_input_with_fields_this_version_does_not_know_keeps_billing(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    location, plan = seed(database, currency="EUR", suffix="newer")
    clock = await server_clock(time_env, TZ)
    first = clock.month(1)
    start = first.replace(day=11)
    contract = new_contract(
        id="newer", customer_id="cu-newer", location=location, plan=plan,
        start=start, anchor=first, prorate_first_invoice=True,
    )  # fmt: skip
    queue = new_task_queue()
    async with running_worker(time_env.client, database, queue):
        handle = await start_with_input(
            time_env.client, contract, with_newer_fields(contract, ADMIN), task_queue=queue
        )
        await sleep_until(time_env, add_months(first, 2) + timedelta(days=1), TZ)
        view = await handle.query("state", result_type=ContractView)

    assert view.contract == contract.model_copy(update=view.contract.model_dump(include={
        "status", "next_invoice_date", "billed_from", "billed_through"}))  # fmt: skip
    assert view.invoices_issued == 3
    with database.session() as session:
        invoices = repository.list_invoices(session, contract_id=contract.id)
    days = calendar.monthrange(start.year, start.month)[1]
    assert [(i.issue_date, i.total) for i in invoices] == [
        (start, prorated(plan.price, days - 10, days) + plan.deposit),
        (add_months(first, 1), plan.price),
        (add_months(first, 2), plan.price),
    ]


async def test_a_currency_withdrawn_since_the_location_was_created_keeps_billing(
    time_env: WorkflowEnvironment, database: Database
) -> None:
    with pytest.raises(UnknownCurrencyError, match="no longer issued"):
        Location.new(id="zg-new", name="Zagreb", timezone=TZ, currency="HRK")
    location, plan = seed(database, currency="HRK", suffix="hrk")
    clock = await server_clock(time_env, TZ)
    first = clock.month(1)
    start = first.replace(day=11)
    contract = new_contract(
        id="kuna", customer_id="cu-hrk", location=location, plan=plan,
        start=start, anchor=first, prorate_first_invoice=True,
    )  # fmt: skip
    queue = new_task_queue()
    async with running_worker(time_env.client, database, queue):
        await create_contract(time_env.client, contract, ADMIN, task_queue=queue)
        await sleep_until(time_env, add_months(first, 1) + timedelta(days=3), TZ)
        handle = time_env.client.get_workflow_handle(f"contract-{contract.id}")
        ends = add_months(first, 1) + timedelta(days=20)
        result = await handle.execute_update(
            "cancel",
            Cancel(date=ends, prorate=True, actor="ana"),
            result_type=CommandResult,
        )
        assert "HRK" in result.effect
        await sleep_until(time_env, add_months(first, 2) + timedelta(days=1), TZ)

    with database.session() as session:
        invoices = repository.list_invoices(session, contract_id=contract.id)
    assert {invoice.currency for invoice in invoices} == {"HRK"}
    days = calendar.monthrange(start.year, start.month)[1]
    assert invoices[0].total == prorated(plan.price, days - 10, days) + plan.deposit
    assert invoices[1].total == plan.price
    month = add_months(first, 1)
    month_days = calendar.monthrange(month.year, month.month)[1]
    credit = invoices[-1]
    assert credit.issue_date == ends
    unserved = month_days - 20
    assert -credit.total == prorated(plan.price, unserved, month_days) + plan.deposit
