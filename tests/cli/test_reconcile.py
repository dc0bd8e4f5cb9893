"""`reconcile` as a user runs it, against the real dev server and a worker: a missing workflow is
started again, an ended one and a registered orphan are reported and left alone; invoices and
deposit movements changed by hand break R20 and are reported, never repaired."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import ColumnElement, delete, insert, select, update
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from billing.contract import Command, Contract, ContractStatus, Customer, Location, Plan
from billing.contract import new_contract as build_contract
from billing.proration import prorate
from store import repository
from store.db import Database
from store.models import ContractRow, DepositMovementRow, InvoiceLineRow, InvoiceRow
from store.repository import webhooks
from termshift.services.contracts import create_contract
from termshift.services.reconcile import reconcile
from termshift.services.reconcile_report import FindingKind, Outcome
from termshift.services.webhooks import add_endpoint
from tests.store.test_webhooks import SECRET
from tests.support.cli import Cli
from tests.support.cli import Result as CliResult
from tests.support.clock import Clock, server_clock
from tests.support.stack import free_port
from tests.support.temporal import new_task_queue, running_worker, start_dev_server
from workflows import ContractWorkflow, workflow_id
from workflows.messages import ContractInput
from workflows.webhooks import workflow_id as delivery_workflow_id

pytestmark = pytest.mark.devserver
BERLIN = Location(id="berlin", name="Berlin Mitte", timezone="Europe/Berlin", currency="EUR")
HOT_DESK = Plan(code="hot-desk", name="Hot desk", location_id="berlin", price=Decimal("300.00"))
OFFICE = Plan(
    code="office", name="Office", location_id="berlin", price=Decimal("900.00"),
    deposit=Decimal("200.00"),
)  # fmt: skip
ADA = Customer(id="ada", location_id="berlin", name="Ada Lovelace", email="ada@example.com")


class Result(CliResult):
    def findings(self) -> list[tuple[str, str | None, str]]:
        return [(f["kind"], f["contract_id"], f["outcome"]) for f in self.json()["findings"]]

    def violations(self) -> list[tuple[str, str | None, str | None, str | None, int, str]]:
        """Each billing finding's (kind, contract, start, end, days, amount)."""
        return [
            (v["kind"], f["contract_id"], v["start"], v["end"], v["days"], v["amount"])
            for f in self.json()["findings"]
            if (v := f["violation"]) is not None
        ]


@dataclass
class Rig:
    client: Client
    database: Database
    task_queue: str
    env: dict[str, str]
    clock: Clock
    """The dev server's clock in Berlin, read when the rig was set up."""

    async def cli(self, *args: str) -> Result:
        result = await Cli(self.env)(*args)
        return Result(result.code, result.out, result.err)


@pytest.fixture
async def rig(database: Database, database_url: str, tmp_path: Path) -> AsyncIterator[Rig]:
    """A dev server of its own (reconcile looks at every workflow of the namespace), a seeded
    catalog and a worker."""
    env = await start_dev_server()
    with database.session() as session:
        repository.add_location(session, BERLIN)
        repository.add_plan(session, HOT_DESK)
        repository.add_plan(session, OFFICE)
        repository.add_customer(session, ADA)
    task_queue = new_task_queue()
    variables = {
        **os.environ,
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": "default",
        "TERMSHIFT_DATABASE_URL": database_url,
        "TERMSHIFT_TASK_QUEUE": task_queue,
        "TERMSHIFT_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
    }
    try:
        clock = await server_clock(env, BERLIN.timezone)
        async with running_worker(env.client, database, task_queue):
            yield Rig(env.client, database, task_queue, variables, clock)
    finally:
        await env.shutdown()


def contract(start: date, plan: Plan = HOT_DESK) -> Contract:
    return build_contract(
        id=f"c-{uuid.uuid4().hex[:8]}", customer_id=ADA.id, location=BERLIN, plan=plan,
        start=start,
    )  # fmt: skip


async def invoiced(rig: Rig, plan: Plan = HOT_DESK) -> Contract:
    """A contract that started on the first of the previous month, once its workflow has issued
    both invoices: [previous month, this month) and [this month, next month)."""
    started = contract(rig.clock.month(-1), plan)
    await create_contract(
        rig.client, started, Command(actor="test"), task_queue=rig.task_queue, timeout=30
    )
    for _ in range(300):
        with rig.database.session() as session:
            stored = repository.get_contract(session, started.id).contract
        if stored.next_invoice_date == rig.clock.month(1):
            return stored
        await asyncio.sleep(0.1)
    pytest.fail(f"contract {started.id} was not invoiced up to {rig.clock.month(1)}")


def plan_line(contract_id: str, period_start: date) -> ColumnElement[bool]:
    """The WHERE clause of the contract's plan line for the period starting on `period_start`."""
    return (
        (InvoiceLineRow.contract_id == contract_id)
        & (InvoiceLineRow.period_start == period_start)
        & (InvoiceLineRow.kind == "plan")
    )


async def test_missing_workflow_is_started_again_from_the_stored_contract(rig: Rig) -> None:
    stored = contract(rig.clock.in_next_year(3, 21))
    with rig.database.session() as session:
        repository.record_contract(session, stored)
    handle = rig.client.get_workflow_handle(workflow_id(stored.id))

    dry = await rig.cli("reconcile", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    assert dry.findings() == [("missing workflow", stored.id, "would repair")]
    with pytest.raises(RPCError) as error:
        await handle.describe()
    assert error.value.status is RPCStatusCode.NOT_FOUND  # the dry run changed nothing

    repaired = await rig.cli("reconcile", "--actor", "maria", "--reason", "lost workflow")
    assert repaired.code == 0, repaired.err
    assert "missing workflow" in repaired.out
    assert "1 checked, 1 repaired, 0 need attention." in repaired.out
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    view = await handle.query(ContractWorkflow.state)
    assert view.registered
    assert view.contract == stored
    with rig.database.session() as session:
        audit = repository.audit_entries(session, stored.id)
    assert [(e.actor, e.reason) for e in audit if e.command == "reconcile"] == [
        ("maria", "lost workflow")
    ]

    again = await rig.cli("reconcile", "--json")
    assert again.code == 0, again.err
    assert again.findings() == []
    assert again.json()["checked"] == 1

    # The database drifts from the workflow's state: reported, nothing changed.
    with rig.database.session() as session:
        repository.save_contract(
            session, stored.model_copy(update={"status": ContractStatus.CANCELLED})
        )
    report = await reconcile(
        rig.client, rig.database, task_queue=rig.task_queue, requested=Command(actor="test")
    )
    assert [(f.kind, f.outcome, f.workflow_state_status) for f in report.findings] == [
        (FindingKind.OUT_OF_SYNC, Outcome.INFO, ContractStatus.INACTIVE)
    ]
    assert report.needs_attention == 0


async def test_terminated_workflow_of_an_active_contract_is_not_restarted(rig: Rig) -> None:
    yesterday = rig.clock.today - timedelta(days=1)
    started = contract(start=yesterday)
    await create_contract(
        rig.client, started, Command(actor="test"), task_queue=rig.task_queue, timeout=30
    )
    handle = rig.client.get_workflow_handle(workflow_id(started.id))
    for _ in range(100):  # its start date has passed: the first invoice makes it active
        with rig.database.session() as session:
            status = repository.get_contract(session, started.id).contract.status
        if status is ContractStatus.ACTIVE:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the contract did not become active")
    run_id = (await handle.describe()).run_id
    await handle.terminate(reason="admin pressed the wrong button")

    result = await rig.cli("reconcile", "--json")
    assert result.code == 1, (result.out, result.err)
    assert result.findings() == [("missing workflow", started.id, "needs attention")]
    finding = result.json()["findings"][0]
    assert finding["workflow_status"] == "terminated"
    assert finding["database_status"] == "active"
    assert f"temporal workflow describe -w {workflow_id(started.id)}" in finding["action"]
    description = await handle.describe()
    assert (description.run_id, description.status) == (run_id, WorkflowExecutionStatus.TERMINATED)


async def test_orphan_workflows_are_reported_never_terminated(rig: Rig) -> None:
    no_worker = new_task_queue()  # nobody polls it: the workflows never run a task
    later = rig.clock.in_next_year(3, 21)
    pending, recorded = contract(later), contract(later)
    waiting = await rig.client.start_workflow(
        ContractWorkflow.run,
        ContractInput(contract=pending),
        id=workflow_id(pending.id),
        task_queue=no_worker,
    )

    result = await rig.cli("reconcile", "--json")
    assert result.code == 0, (result.out, result.err)
    assert result.findings() == [("orphan workflow", pending.id, "info")]
    assert "waits for its registration" in result.json()["findings"][0]["detail"]

    # Continued (or a successor): its input says the row exists, but there is none.
    lost = await rig.client.start_workflow(
        ContractWorkflow.run,
        ContractInput(contract=recorded, registered=True),
        id=workflow_id(recorded.id),
        task_queue=no_worker,
    )
    result = await rig.cli("reconcile")
    assert result.code == 1, (result.out, result.err)
    assert "orphan workflow" in result.out
    assert "temporal workflow describe" in result.out  # the table wraps the workflow id
    assert "2 checked, 0 repaired, 1 need attention." in result.out
    for handle in (waiting, lost):
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING


async def test_a_registered_workflow_without_its_row_needs_attention_with_no_worker(
    rig: Rig,
) -> None:
    """Its row was written by its first activity (a local one), then lost; no worker polls its
    queue now, so reconcile reads its history: the registration's summary says it happened."""
    queue = new_task_queue()
    lost = contract(rig.clock.in_next_year(4, 11))
    async with running_worker(rig.client, rig.database, queue):
        await create_contract(rig.client, lost, Command(actor="test"), task_queue=queue)
    with rig.database.session() as session:  # a restored backup that predates it
        session.execute(delete(ContractRow).where(ContractRow.id == lost.id))

    result = await rig.cli("reconcile", "--json")
    assert result.code == 1, (result.out, result.err)
    assert result.findings() == [("orphan workflow", lost.id, "needs attention")]
    assert "says its contract is recorded" in result.json()["findings"][0]["detail"]


async def test_a_webhook_endpoint_gets_its_delivery_workflow_back(rig: Rig) -> None:
    """An endpoint whose delivery workflow ended is given a new run; a removed endpoint's
    workflow still running is terminated. Nothing else changes."""
    added = await add_endpoint(
        rig.client, rig.database, url="http://127.0.0.1:9/hooks", types=(), secret=SECRET,
        after=None, endpoint_id="crm",
    )  # fmt: skip
    handle = rig.client.get_workflow_handle(delivery_workflow_id(added.id))
    first_run = (await handle.describe()).run_id
    assert (await rig.cli("reconcile", "--json")).findings() == []
    await handle.terminate(reason="lost by accident")

    dry = await rig.cli("reconcile", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    assert dry.findings() == [("delivery workflow", None, "would repair")]
    [finding] = dry.json()["findings"]
    assert (finding["endpoint_id"], finding["workflow_status"]) == ("crm", "terminated")
    assert dry.json()["endpoints_checked"] == 1
    assert (await handle.describe()).status is WorkflowExecutionStatus.TERMINATED

    repaired = await rig.cli("reconcile")
    assert repaired.code == 0, (repaired.out, repaired.err)
    assert "endpoint crm" in repaired.out
    assert "0 checked (and 1 webhook endpoint), 1 repaired, 0 need attention." in repaired.out
    description = await rig.client.get_workflow_handle(delivery_workflow_id("crm")).describe()
    assert description.status is WorkflowExecutionStatus.RUNNING
    assert description.run_id != first_run
    assert (await rig.cli("reconcile", "--json")).findings() == []

    with rig.database.session() as session:  # removed, but its workflow was never stopped
        webhooks.remove_endpoint(session, "crm", at=rig.clock.now)
    removed = await rig.cli("reconcile", "--json")
    assert removed.code == 0, removed.err
    assert removed.findings() == [("delivery workflow", None, "repaired")]
    assert "was removed" in removed.json()["findings"][0]["detail"]
    description = await rig.client.get_workflow_handle(delivery_workflow_id("crm")).describe()
    assert description.status is WorkflowExecutionStatus.TERMINATED
    assert (await rig.cli("reconcile", "--json")).findings() == []


# --- R20: every served day billed exactly once ------------------------------------------------


async def test_invoiced_contracts_break_no_billing_rule(rig: Rig) -> None:
    await invoiced(rig)
    await invoiced(rig, OFFICE)  # its first invoice also charges the deposit

    result = await rig.cli("reconcile", "--json")
    assert result.code == 0, (result.out, result.err)
    assert result.findings() == []
    assert (result.json()["billing_violations"], result.json()["checked"]) == (0, 2)

    text = await rig.cli("reconcile")
    assert text.code == 0, (text.out, text.err)
    assert (
        "Billing (R20): every served day of the 2 contracts checked is billed exactly once, "
        "and every deposit adds up." in text.out
    )
    assert "2 checked, 0 repaired, 0 need attention. Database and workflows agree." in text.out


async def test_a_deleted_invoice_line_is_a_gap_reported_never_invoiced(rig: Rig) -> None:
    stored = await invoiced(rig)
    this_month, next_month = rig.clock.month(0), rig.clock.month(1)
    with rig.database.session() as session:  # deleted by hand, and the invoice's total fixed
        invoice_id = session.scalar(
            select(InvoiceLineRow.invoice_id).where(plan_line(stored.id, this_month))
        )
        session.execute(delete(InvoiceLineRow).where(plan_line(stored.id, this_month)))
        session.execute(
            update(InvoiceRow)
            .where(InvoiceRow.id == invoice_id)
            .values(total=InvoiceRow.total - HOT_DESK.price)
        )
        before = repository.list_invoices(session, contract_id=stored.id)

    for args in (("--dry-run",), ()):
        result = await rig.cli("reconcile", "--json", *args)
        assert result.code == 1, (result.out, result.err)
        assert result.findings() == [("billing", stored.id, "needs attention")]
    report = result.json()
    assert report["findings"] == [
        {
            "kind": "billing",
            "contract_id": stored.id,
            "workflow_id": workflow_id(stored.id),
            "outcome": "needs attention",
            "detail": f"{(next_month - this_month).days} served day(s), {this_month} to "
            f"{next_month}, are billed by no line: 300.00 EUR not charged.",
            "action": "Not repaired: reconcile writes no invoice. Look at `python starter.py "
            f"contracts show {stored.id}` (its terms and invoices) and correct the invoices by "
            "hand.",
            "database_status": None,
            "workflow_status": None,
            "workflow_state_status": None,
            "violation": {
                "kind": "gap",
                "customer_id": ADA.id,
                "start": this_month.isoformat(),
                "end": next_month.isoformat(),
                "days": (next_month - this_month).days,
                "amount": "300.00",
                "currency": "EUR",
            },
            "endpoint_id": None,
        }
    ]
    assert (report["needs_attention"], report["billing_violations"]) == (1, 1)
    assert (report["workflows_compared"], report["checked"]) == (True, 1)

    text = await rig.cli("reconcile")
    assert text.code == 1, (text.out, text.err)
    for shown in ("gap", stored.id, str(this_month), str(next_month), "300.00 EUR", "Not repaired"):
        assert shown in text.out, text.out
    assert (
        "Billing (R20): 1 violation (1 contract, 0 deposits): reported, not repaired." in text.out
    )
    assert "1 checked, 0 repaired, 1 need attention. Database and workflows agree." in text.out
    narrow = await Cli({**rig.env, "COLUMNS": "80"})("reconcile", "--billing-only")
    assert narrow.code == 1
    for shown in (str(this_month), str(next_month), "300.00 EUR", "Left out to fit the terminal"):
        assert shown in narrow.out, narrow.out  # the detail gives way, never a date or amount
    with rig.database.session() as session:  # reported, never invoiced
        assert repository.list_invoices(session, contract_id=stored.id) == before
        assert "reconcile" not in {e.command for e in repository.audit_entries(session)}


async def test_a_line_billed_twice_and_an_edited_amount_are_reported(rig: Rig) -> None:
    stored = await invoiced(rig)
    last_month, this_month, next_month = (rig.clock.month(m) for m in (-1, 0, 1))
    tenth = this_month + timedelta(days=10)
    again = prorate(
        HOT_DESK.price, period_start=this_month, period_end=next_month, start=tenth,
        end=next_month, currency="EUR",
    )  # fmt: skip
    with rig.database.session() as session:
        invoice_id = session.scalar(
            select(InvoiceLineRow.invoice_id).where(plan_line(stored.id, this_month))
        )
        session.execute(  # the days from the 10th billed a second time, at the right amount
            insert(InvoiceLineRow).values(
                invoice_id=invoice_id, contract_id=stored.id, kind="plan", period_start=tenth,
                period_end=next_month, amount=again, description="copied by hand",
            )
        )  # fmt: skip
        session.execute(
            update(InvoiceLineRow)
            .where(plan_line(stored.id, last_month))
            .values(amount=Decimal("250.00"))
        )

    result = await rig.cli("reconcile", "--json")
    assert result.code == 1, (result.out, result.err)
    days_again = (next_month - tenth).days
    assert result.violations() == [
        ("wrong amount", stored.id, str(last_month), str(this_month),
         (this_month - last_month).days, "-50.00"),
        ("overlap", stored.id, str(tenth), str(next_month), days_again, str(again)),
    ]  # fmt: skip
    assert [f["outcome"] for f in result.json()["findings"]] == ["needs attention"] * 2
    text = await rig.cli("reconcile")
    assert text.code == 1
    for shown in ("wrong amount", "-50.00 EUR", "overlap", f"{again} EUR", str(tenth)):
        assert shown in text.out, text.out
    assert "Billing (R20): 2 violations (1 contract, 0 deposits)" in text.out


async def test_a_deleted_deposit_movement_is_reported_with_or_without_temporal(rig: Rig) -> None:
    stored = await invoiced(rig, OFFICE)
    with rig.database.session() as session:
        session.execute(
            delete(DepositMovementRow).where(DepositMovementRow.contract_id == stored.id)
        )

    result = await rig.cli("reconcile", "--json")
    assert result.code == 1, (result.out, result.err)
    assert result.findings() == [("billing", None, "needs attention")]
    [finding] = result.json()["findings"]
    assert finding["workflow_id"] is None
    assert finding["violation"] == {
        "kind": "deposit", "customer_id": ADA.id, "start": None, "end": None, "days": 0,
        "amount": "-200.00", "currency": "EUR",
    }  # fmt: skip
    assert finding["detail"] == (
        "Holds a deposit of 0.00 EUR, but its invoices charged 200.00 EUR net of refunds."
    )
    assert f"invoices list --customer {ADA.id}" in finding["action"]

    # Temporal down: the command says so and how to check the billing database alone.
    down = Cli({**rig.env, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"})
    failed = await down("reconcile", "--json")
    assert failed.code == 1
    error = failed.json()["error"]
    assert error["code"] == "failed"
    assert "`reconcile --billing-only` checks the billing database without it." in error["message"]

    alone = await down("reconcile", "--billing-only", "--json")
    assert alone.code == 1, (alone.out, alone.err)
    report = alone.json()
    assert report["findings"] == [finding]
    assert (report["workflows_compared"], report["namespace"], report["running_workflows"]) == (
        False, None, None,
    )  # fmt: skip
    assert (report["checked"], report["needs_attention"]) == (1, 1)
    text = await down("reconcile", "--billing-only")
    assert text.code == 1, (text.out, text.err)
    for shown in ("deposit", f"customer {ADA.id}", "-200.00 EUR", "workflows not compared"):
        assert shown in text.out, text.out
