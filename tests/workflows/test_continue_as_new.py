"""Ten years of monthly invoicing across many runs (continue-as-new), on the real dev server."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from billing.contract import Command, Customer, Location, Plan, new_contract
from billing.periods import invoice_dates
from store import repository
from store.db import Database
from termshift.services import catalog
from termshift.services.contracts import create_contract
from tests.support.clock import add_months, server_clock
from tests.support.databases import sqlite_url
from tests.support.temporal import new_task_queue, running_worker, start_dev_server
from workflows import ContractWorkflow, workflow_id
from workflows.contract import DATES_PER_RUN
from workflows.messages import Uncancel

pytestmark = pytest.mark.devserver
ADMIN = Command(actor="test", reason="continue-as-new test")


@pytest.fixture(scope="module")
async def small_history_server() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server that suggests continue-as-new after a few dozen events."""
    env = await start_dev_server(
        ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=60"]
    )
    yield env
    await env.shutdown()


async def test_ten_years_of_invoices_over_many_runs_lose_nothing(
    small_history_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = small_history_server.client
    database = Database(sqlite_url(tmp_path))
    database.migrate()
    suffix = uuid.uuid4().hex[:8]
    location = Location(id=f"zrh-{suffix}", name="Zürich", timezone="Europe/Zurich", currency="CHF")
    plan = Plan(
        code=f"desk-{suffix}", name="Desk", location_id=location.id, price=Decimal("450.00")
    )
    customer = Customer(
        id=f"cu-{suffix}", name="Grace", email="g@example.com", location_id=location.id
    )
    catalog.add_location(database, location, ADMIN)
    catalog.add_plan(database, plan, ADMIN)
    catalog.add_customer(database, customer, ADMIN)
    # Started ten years ago: the workflow catches up on 120 monthly invoices at once.
    clock = await server_clock(small_history_server, location.timezone)
    today = clock.today
    start = clock.month(-120)
    contract = new_contract(
        id=f"long-{suffix}", customer_id=customer.id, location=location, plan=plan, start=start
    )
    task_queue = new_task_queue()
    async with running_worker(client, database, task_queue):
        await create_contract(client, contract, ADMIN, task_queue=task_queue)
        handle = client.get_workflow_handle(workflow_id(contract.id))
        # Refused commands arriving while runs hand over: each must be answered, none lost.
        for _ in range(12):
            await handle.signal(ContractWorkflow.uncancel_signal, Uncancel(actor="probe"))
            await asyncio.sleep(0.05)
        expected = [d for d in _dates(start) if d <= today]
        for _ in range(600):
            state = await handle.query(ContractWorkflow.state)
            if state.invoices_issued >= len(expected) and len(state.refused) == 12:
                break
            await asyncio.sleep(0.1)

    runs = [
        execution
        async for execution in client.list_workflows(f"WorkflowId = '{workflow_id(contract.id)}'")
    ]
    with database.session() as session:
        invoices = repository.list_invoices(session, contract_id=contract.id)
        refusals = [
            entry
            for entry in repository.audit_entries(session, contract.id)
            if entry.command == "uncancel"
        ]
    assert [invoice.issue_date for invoice in invoices] == expected
    assert all(invoice.total == Decimal("450.00") for invoice in invoices)
    assert len(runs) >= 3, "the history should have been continued as new several times"
    # Caught up in workflow tasks that never see the server's suggestion: DATES_PER_RUN a run.
    assert len(runs) >= len(expected) // DATES_PER_RUN
    assert sum(run.status is WorkflowExecutionStatus.CONTINUED_AS_NEW for run in runs) >= 2
    assert state.invoices_issued == len(expected)
    assert state.contract.next_invoice_date == add_months(expected[-1], 1)
    assert len(state.refused) == 12
    assert len(refusals) == 12
    database.dispose()


def _dates(start: date) -> list[date]:
    dates = []
    for day in invoice_dates(start, anchor=start, every="1 month"):
        if len(dates) > 200:
            break
        dates.append(day)
    return dates
