"""`reconcile` as a user runs it, against the real dev server and a worker: a missing workflow is
started again, an ended one and a registered orphan are reported and left alone."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from billing.contract import Command, Contract, ContractStatus, Customer, Location, Plan
from billing.contract import new_contract as build_contract
from store import repository
from store.db import Database
from termshift.contracts import create_contract
from termshift.reconcile import FindingKind, Outcome, reconcile
from tests.support.cli import Cli
from tests.support.cli import Result as CliResult
from tests.support.clock import Clock, server_clock
from tests.support.temporal import new_task_queue, running_worker, start_dev_server
from workflows import ContractWorkflow, workflow_id
from workflows.messages import ContractInput

pytestmark = pytest.mark.devserver
BERLIN = Location(id="berlin", name="Berlin Mitte", timezone="Europe/Berlin", currency="EUR")
HOT_DESK = Plan(code="hot-desk", name="Hot desk", location_id="berlin", price=Decimal("300.00"))
ADA = Customer(id="ada", location_id="berlin", name="Ada Lovelace", email="ada@example.com")


class Result(CliResult):
    def findings(self) -> list[tuple[str, str, str]]:
        return [(f["kind"], f["contract_id"], f["outcome"]) for f in self.json()["findings"]]


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


def contract(start: date) -> Contract:
    return build_contract(
        id=f"c-{uuid.uuid4().hex[:8]}", customer_id=ADA.id, location=BERLIN, plan=HOT_DESK,
        start=start,
    )  # fmt: skip


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
