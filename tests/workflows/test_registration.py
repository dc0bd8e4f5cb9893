"""A contract whose row is never written fails at once, even while commands wait on it.

Its first activity writes the row; a command that arrives meanwhile waits for it. When the row
cannot be written (here: the customer does not exist), the waiting command is refused, saying
so, and the workflow fails: nothing retries forever against a contract that does not exist.
"""

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from billing.contract import Command, Location, Plan, new_contract
from store.db import Database
from termshift.services import catalog
from tests.support.clock import server_clock
from tests.support.databases import postgres_database
from tests.support.temporal import new_task_queue, running_worker
from workflows import ContractWorkflow, workflow_id
from workflows.messages import Cancel, ContractInput

pytestmark = pytest.mark.postgres

ADMIN = Command(actor="test", reason="registration")
LOCATION = Location(id="ber", name="Berlin", timezone="Europe/Berlin", currency="EUR")
DESK = Plan(code="desk", name="Desk", location_id="ber", price=Decimal("300.00"))


@pytest.fixture
def postgres() -> Iterator[tuple[str, Database]]:
    with postgres_database() as url:
        database = Database(url)
        database.migrate()
        catalog.add_location(database, LOCATION, ADMIN)
        catalog.add_plan(database, DESK, ADMIN)
        yield url, database
        database.dispose()


async def test_a_failed_registration_refuses_the_waiting_command_and_fails_at_once(
    time_env: WorkflowEnvironment, postgres: tuple[str, Database]
) -> None:
    url, database = postgres
    clock = await server_clock(time_env, LOCATION.timezone)
    ghost = new_contract(
        id="ghost", customer_id="nobody", location=LOCATION, plan=DESK, start=clock.month(1)
    )
    queue = new_task_queue()
    # Another transaction holds the customers table: the registration waits inside its write.
    blocker = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    blocker.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
    try:
        async with running_worker(time_env.client, database, queue):
            handle = await time_env.client.start_workflow(
                ContractWorkflow.run,
                ContractInput(contract=ghost, created=ADMIN),
                id=workflow_id(ghost.id),
                task_queue=queue,
            )
            update = await handle.start_update(
                ContractWorkflow.cancel,
                Cancel(date=clock.month(1) + timedelta(days=10), actor="ana"),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
            blocker.rollback()  # the write goes on, and finds no customer
            async with asyncio.timeout(30):
                with pytest.raises(WorkflowUpdateFailedError) as refused:
                    await update.result()
                with pytest.raises(WorkflowFailureError) as failed:
                    await handle.result()
    finally:
        blocker.close()
    assert "Contract ghost was not created:" in str(refused.value.cause)
    assert "No customer 'nobody'" in str(refused.value.cause)
    assert "Contract ghost was not created" in str(failed.value.cause)
