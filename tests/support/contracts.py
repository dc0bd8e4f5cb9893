"""Builders for workflow tests: a seeded catalog, contracts run by the real workflow on the
time-skipping server, and snapshots of what the billing database and the workflow hold.

Scenario dates are in the year after the test server's local date (`tests.support.clock`: the
server starts at the real current time), so every contract starts in the future; March, April and
May keep their lengths in every year, so the worked examples' amounts hold whatever that year is.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from billing.calendar import local_date
from billing.contract import Command, Contract, Customer, Location, Plan, new_contract
from store import repository
from store.db import Database
from store.records import AuditEntry, ContractRecord, DepositMovement, IssuedInvoice
from termshift.services import catalog
from termshift.services.contracts import create_contract
from tests.support.clock import server_clock
from tests.support.temporal import new_task_queue, running_worker, sleep_until
from workflows import ContractWorkflow, workflow_id
from workflows.messages import CommandResult, ContractView

TZ = "Europe/Berlin"
SETUP = Command(actor="setup", reason="test catalog")
WHO: dict[str, str] = {"actor": "alice", "reason": "customer asked"}
"""Actor and reason of the admin commands the tests send (R11)."""

BERLIN = Location(id="ber", name="Berlin Mitte", timezone=TZ, currency="EUR")
LONDON = Location(id="lon", name="London Shoreditch", timezone="Europe/London", currency="GBP")


def _plan(code: str, name: str, price: str, **extra: Any) -> Plan:
    return Plan(code=code, name=name, location_id=BERLIN.id, price=Decimal(price), **extra)


PLANS = {
    plan.code: plan
    for plan in (
        _plan("HOT", "Hot Desk", "300.00", deposit=Decimal("200.00"), prorate_first_invoice=True),
        _plan(
            "OFFICE", "Office", "1500.00", deposit=Decimal("1000.00"), prorate_first_invoice=True
        ),
        _plan("FIXED", "Fixed Desk", "1000.00", prorate_first_invoice=True),
        _plan("FLEX", "Flex Desk", "600.00"),
        _plan("STUDIO", "Studio", "1500.00"),
        Plan(code="LON-DESK", name="London Desk", location_id=LONDON.id, price=Decimal("500.00")),
    )
}
"""HOT (deposit 200) and OFFICE (deposit 1,000) are the seed's switch; STUDIO refuses a prorated
first invoice; LON-DESK belongs to another location and currency."""


def seed_catalog(database: Database) -> None:
    for location in (BERLIN, LONDON):
        catalog.add_location(database, location, SETUP)
    for plan in PLANS.values():
        catalog.add_plan(database, plan, SETUP)


Line = tuple[date, str, date, date, Decimal]
"""An invoice line as a user reads it: issue date, kind, period start and end, amount."""


def lines(invoices: list[IssuedInvoice]) -> list[Line]:
    return [
        (invoice.issue_date, line.kind.value, line.period_start, line.period_end, line.amount)
        for invoice in invoices
        for line in invoice.lines
    ]


@dataclass(frozen=True)
class Snapshot:
    """What a refused command must leave untouched: rows, invoices, deposits, the live state."""

    contracts: list[ContractRecord]
    invoices: list[IssuedInvoice]
    deposits: list[DepositMovement]
    state: ContractView


class Scenario:
    """Contracts of one test on one time-skipping server, one task queue and one database."""

    def __init__(self, env: WorkflowEnvironment, database: Database, year: int) -> None:
        self.env = env
        self.client = env.client
        self.database = database
        self.year = year
        self.task_queue = new_task_queue()

    def day(self, month: int, day: int, *, years: int = 0) -> date:
        """A date of the scenario year (the year after the server's local date)."""
        return date(self.year + years, month, day)

    async def at(self, day: date) -> None:
        """Skip the server's time to 12:00 local on `day`, after that day's invoicing."""
        await sleep_until(self.env, day, TZ)
        assert local_date(await self.env.get_current_time(), TZ) == day

    async def ends(self, contract_id: str, day: date) -> None:
        """Skip to 00:00 local on `day`, when the contract `contract_id` ends, and wait until its
        workflow has completed.

        For a new term (a child workflow of the contract it replaces) this is where a test stops:
        once a child workflow completes, the time-skipping test server no longer skips time
        (temporalio/sdk-java#2392), so the end is awaited at its exact instant, in real time.
        """
        await sleep_until(self.env, day, TZ, hour=0)
        async with asyncio.timeout(10):
            while await self.status(contract_id) is WorkflowExecutionStatus.RUNNING:
                await asyncio.sleep(0.05)

    # -- contracts ------------------------------------------------------------------------

    def add_customer(self, customer_id: str) -> None:
        catalog.add_customer(
            self.database,
            Customer(
                id=customer_id,
                name=f"Customer {customer_id}",
                email=f"{customer_id}@example.com",
                location_id=BERLIN.id,
            ),
            SETUP,
        )

    async def create(
        self,
        contract_id: str,
        plan: str,
        start: date,
        *,
        customer: str | None = None,
        price: str | None = None,
        anchor: date | None = None,
        prorate_first_invoice: bool = False,
    ) -> ContractView:
        """Create the contract (and its customer, `cu-<contract id>` unless given)."""
        customer_id = customer or f"cu-{contract_id}"
        self.add_customer(customer_id)
        contract = new_contract(
            id=contract_id,
            customer_id=customer_id,
            location=BERLIN,
            plan=PLANS[plan],
            start=start,
            price=price,
            anchor=anchor,
            prorate_first_invoice=prorate_first_invoice,
        )
        return await create_contract(
            self.client, contract, SETUP, task_queue=self.task_queue, timeout=20
        )

    def handle(self, contract_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(workflow_id(contract_id))

    async def state(self, contract_id: str) -> ContractView:
        return await self.handle(contract_id).query(ContractWorkflow.state)

    async def update(self, contract_id: str, update: Any, command: Command) -> CommandResult:
        """Send an admin command as an update; returns what the workflow did."""
        result: CommandResult = await self.handle(contract_id).execute_update(
            update, command, result_type=CommandResult
        )
        return result

    async def signal(self, contract_id: str, signal: Any, command: Command) -> ContractView:
        """Send an admin command as a signal and wait until the workflow has handled it: the
        contract changed or the refusal is recorded (each command here changes one of them), and
        its audit entry is written (a refusal is recorded in the state first)."""
        before = await self.state(contract_id)
        audited = len(self.audit(contract_id))
        await self.handle(contract_id).signal(signal, command)
        view = await self.until(
            contract_id,
            lambda view: view.contract != before.contract or view.refused != before.refused,
        )
        await self.audited(contract_id, audited + 1)
        return view

    async def audited(self, contract_id: str, count: int, timeout: float = 10) -> None:
        """Wait until the contract has `count` audit entries."""
        async with asyncio.timeout(timeout):
            while len(self.audit(contract_id)) < count:
                await asyncio.sleep(0.05)

    async def until(
        self, contract_id: str, done: Callable[[ContractView], bool], timeout: float = 10
    ) -> ContractView:
        """Poll the `state` query until `done` holds."""
        async with asyncio.timeout(timeout):
            while not done(view := await self.state(contract_id)):
                await asyncio.sleep(0.05)
        return view

    async def refuse(self, contract_id: str, update: Any, command: Command) -> ApplicationError:
        """Send an update that must be refused; returns the refusal, and checks that nothing
        changed: contract rows, invoices, deposit movements, the workflow's state."""
        before = await self.snapshot(contract_id)
        try:
            result = await self.update(contract_id, update, command)
        except WorkflowUpdateFailedError as error:
            refusal = error.cause
        else:
            raise AssertionError(f"{command!r} was accepted: {result.effect}")
        assert isinstance(refusal, ApplicationError), refusal
        assert refusal.non_retryable
        assert await self.snapshot(contract_id) == before
        return refusal

    async def refuse_ended(self, contract_id: str, update: Any, command: Command) -> Exception:
        """Send an update to a contract whose workflow has ended: refused, and nothing changes."""
        before = await self.snapshot(contract_id)
        try:
            result = await self.update(contract_id, update, command)
        except (WorkflowUpdateFailedError, RPCError) as error:
            refusal: Exception = error
        else:
            raise AssertionError(f"{command!r} was accepted: {result.effect}")
        if isinstance(refusal, RPCError):
            assert refusal.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)
        assert await self.snapshot(contract_id) == before
        return refusal

    async def status(self, contract_id: str) -> WorkflowExecutionStatus:
        """The workflow's status (read raw: the test server's datetime search attributes do not
        decode in `WorkflowHandle.describe`)."""
        described = await self.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id(contract_id)),
            )
        )
        return WorkflowExecutionStatus(described.workflow_execution_info.status)

    async def events(self, contract_id: str, event_type: EventType.ValueType) -> int:
        """How many events of `event_type` the contract's workflow history holds."""
        history = await self.handle(contract_id).fetch_history()
        return sum(1 for event in history.events if event.event_type == event_type)

    async def snapshot(self, contract_id: str) -> Snapshot:
        customer_id = self.contract(contract_id).customer_id
        with self.database.session() as session:
            return Snapshot(
                contracts=repository.list_contracts(session, customer_id=customer_id),
                invoices=repository.list_invoices(session, customer_id=customer_id),
                deposits=repository.deposit_movements(session, customer_id),
                state=await self.state(contract_id),
            )

    # -- the billing database -------------------------------------------------------------

    def contract(self, contract_id: str) -> Contract:
        with self.database.session() as session:
            return repository.get_contract(session, contract_id).contract

    def contracts(self, customer_id: str) -> list[Contract]:
        with self.database.session() as session:
            return [
                record.contract
                for record in repository.list_contracts(session, customer_id=customer_id)
            ]

    def invoices(
        self, *, contract_id: str | None = None, customer_id: str | None = None
    ) -> list[IssuedInvoice]:
        with self.database.session() as session:
            return repository.list_invoices(
                session, contract_id=contract_id, customer_id=customer_id
            )

    def lines(self, contract_id: str) -> list[Line]:
        return lines(self.invoices(contract_id=contract_id))

    def plan_lines(self, contract_id: str, *, since: date) -> list[Line]:
        """The contract's plan lines on invoices issued on or after `since`."""
        return [line for line in self.lines(contract_id) if line[1] == "plan" and line[0] >= since]

    def held(self, customer_id: str) -> Decimal:
        with self.database.session() as session:
            return repository.held_by_customer(session, customer_id)

    def holdings(self, customer_id: str) -> dict[str, Decimal]:
        with self.database.session() as session:
            return repository.holdings(session, customer_id)

    def audit(self, contract_id: str) -> list[AuditEntry]:
        with self.database.session() as session:
            return repository.audit_entries(session, contract_id)


@asynccontextmanager
async def scenario(env: WorkflowEnvironment, database: Database) -> AsyncIterator[Scenario]:
    """A seeded catalog and a worker on a task queue of its own, for the duration of the block."""
    seed_catalog(database)
    clock = await server_clock(env, TZ)
    running = Scenario(env, database, clock.next_year)
    async with running_worker(env.client, database, running.task_queue):
        yield running
