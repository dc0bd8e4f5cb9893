"""The run: `simulate` starts a fresh time-skipping Temporal test server, a fresh in-memory
billing database and a worker with the real contract workflow and activities, adds the scenario's
reference data, creates its contracts, sends its actions on their dates while skipping the
server's clock (releasing the time-skipping locks the test server leaks), and reports what the
billing database holds afterwards, with its check against R20 (see `termshift.simulator`).
"""

import asyncio
import concurrent.futures
import datetime as dt
import gc
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.testservice.v1 import SleepRequest, UnlockTimeSkippingRequest
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
)
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from billing import lifecycle
from billing.cadence import parse_cadence
from billing.calendar import local_date, local_midnight, local_noon
from billing.contract import (
    Command,
    Contract,
    ContractStatus,
    Customer,
    Location,
    Plan,
    new_contract,
)
from billing.decisions import RejectionCode
from billing.money import format_money, parse_amount
from store import repository
from store.db import Database
from store.repository import bulk as bulk_store
from termshift.services import catalog
from termshift.services.contracts import (
    CommandRefused,
    ContractNotCreated,
    create_contract,
    new_term_after_end,
)
from termshift.services.refusals import record_refusal
from termshift.simulator.commands import new_term_message, rule_refusal, workflow_message
from termshift.simulator.report import (
    RejectionOut,
    SentCommand,
    SimulationResult,
    read_result,
)
from termshift.simulator.scenario import ActionSpec, ContractSpec, Scenario
from termshift.simulator.shift import choose_shift, shift_date, shift_text
from termshift.temporal import register_search_attributes
from termshift.worker import build_worker
from workflows import workflow_id
from workflows.messages import CommandResult

LOCATION_ID = "sim"
TASK_QUEUE = "termshift-simulator"
ACTOR = "simulator"
SKIP_STEP = dt.timedelta(days=10)
"""Server time is skipped in steps of at most this, so each step's timers and activities finish."""
SETTLE = dt.timedelta(minutes=1)
"""Skipped after the last 12:00, so work an action set off (a retroactive end) is written."""
ENDING_GRACE = dt.timedelta(milliseconds=50)
"""How far past a next term's end a skip stops (see `_release_leaked_locks`)."""
SLEEP_TIMEOUT = dt.timedelta(minutes=2)
"""Wall-clock time a single skip may take before the run is given up."""
EVERY_REFUSAL: frozenset[str] = frozenset()
"""No rejection code exempt: every refusal is one."""
UNAFFECTED = frozenset({RejectionCode.UNAFFECTED.value})
"""A plan's new price does not concern the contract (R18): skipped, not a rejection."""

Progress = Callable[[dt.date], None]
"""Called with the simulated date (as in the scenario) as the run moves through time."""


def _binary(name: str) -> str | None:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else shutil.which(name)


def _quiet_runtime() -> Runtime:
    """A Temporal runtime that logs errors only (the test server lacks features it warns about)."""
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


async def _start_server(runtime: Runtime) -> WorkflowEnvironment:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    try:
        await register_search_attributes(env.client)
    except BaseException:
        await env.shutdown()
        raise
    return env


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:56] or "customer"
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


async def simulate(scenario: Scenario, *, progress: Progress | None = None) -> SimulationResult:
    """Run `scenario` on a fresh time-skipping server and in-memory database; report what happened.

    Raises `ScenarioError` when the scenario's dates cannot be shifted to run (see
    `termshift.simulator.shift`).
    """
    runtime = _quiet_runtime()
    env = await _start_server(runtime)
    database = Database("sqlite://")
    try:
        database.migrate()
        return await _Simulation(scenario, env, database, progress).run()
    finally:
        database.dispose()
        await env.shutdown()
        # Drop the runtime's threads now: left to interpreter shutdown, they can abort the
        # process ("PyGILState_Release: thread state must be current", sdk-python issue #300).
        del env, runtime
        gc.collect()


class _Simulation:
    def __init__(
        self,
        scenario: Scenario,
        env: WorkflowEnvironment,
        database: Database,
        progress: Progress | None,
    ) -> None:
        self.scenario = scenario
        self.env = env
        self.client: Client = env.client
        self.database = database
        self.progress = progress
        self.tz = scenario.timezone
        self.years = 0
        self.location = Location(
            id=LOCATION_ID, name="Simulation", timezone=self.tz, currency=scenario.currency
        )
        taken: set[str] = set()
        self.customer_ids = {name: _slug(name, taken) for name in scenario.customers()}
        self.rejections: list[RejectionOut] = []
        self.commands: list[SentCommand] = []
        self.released: set[str] = set()
        """Next terms whose workflow completed (and whose leaked lock was released)."""

    def forward(self, day: dt.date) -> dt.date:
        return shift_date(day, self.years)

    def back(self, day: dt.date) -> dt.date:
        return shift_date(day, -self.years)

    def text(self, message: str) -> str:
        return shift_text(message, -self.years)

    async def run(self) -> SimulationResult:
        self.years = choose_shift(self.scenario, await self.env.get_current_time())
        self._add_reference_data()
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as executor:
            worker = build_worker(
                self.client, self.database, task_queue=TASK_QUEUE, executor=executor
            )
            async with worker:
                await self._skip_to(self.scenario.earliest() - dt.timedelta(days=1), empty=True)
                for contract in self.scenario.contracts:
                    await self._create(contract)
                for index, action in self.scenario.ordered_actions():
                    await self._skip_to(action.on)
                    await self._send(index, action)
                    await self._release_leaked_locks()
                await self._skip_to(self.scenario.until)
                await self._sleep(SETTLE)
                await self._release_leaked_locks()
        return read_result(
            self.database,
            self.scenario,
            customer_ids=self.customer_ids,
            rejections=self.rejections,
            commands=self.commands,
            years=self.years,
        )

    # -- reference data and contracts

    def _add_reference_data(self) -> None:
        requested = Command(actor=ACTOR, reason="scenario reference data")
        catalog.add_location(self.database, self.location, requested)
        for spec in self.scenario.plans:
            plan = Plan(
                code=spec.code,
                name=spec.code,
                location_id=LOCATION_ID,
                price=parse_amount(spec.price, self.scenario.currency),
                every=str(parse_cadence(spec.every)),
                deposit=parse_amount(spec.deposit, self.scenario.currency, allow_zero=True),
                prorate_first_invoice=spec.prorate_first_invoice,
                terms=spec.terms(),
            )
            catalog.add_plan(self.database, plan, requested)
        for name, customer_id in self.customer_ids.items():
            customer = Customer(
                id=customer_id,
                name=name,
                email=f"{customer_id}@example.com",
                location_id=LOCATION_ID,
            )
            catalog.add_customer(self.database, customer, requested)

    def _plan(self, code: str) -> Plan:
        with self.database.session() as session:
            return repository.get_plan(session, code)

    async def _create(self, spec: ContractSpec) -> None:
        plan = self._plan(spec.plan)
        contract = new_contract(
            id=spec.id,
            customer_id=self.customer_ids[spec.customer],
            location=self.location,
            plan=plan,
            start=self.forward(spec.start),
            price=spec.price,
            anchor=None if spec.anchor is None else self.forward(spec.anchor),
            prorate_first_invoice=spec.prorate_first_invoice,
            terms=spec.terms(plan.terms),  # the contract's own terms in place of the plan's
        )
        requested = Command(actor=ACTOR, reason=f"scenario contract {spec.id}")
        try:
            await create_contract(self.client, contract, requested, task_queue=TASK_QUEUE)
        except ContractNotCreated as error:
            raise RuntimeError(
                f"Contract {spec.id} was not created: {self.text(str(error))}"
            ) from None

    # -- time

    async def _skip_to(self, day: dt.date, *, empty: bool = False) -> None:
        """Move the server's clock to 12:00 local on `day` (a scenario date), in steps.

        `empty`: no workflow runs yet, so one jump is safe however far it goes. Otherwise a step
        also stops just after each next term's predicted end (see `_release_leaked_locks`).
        """
        target = local_noon(self.forward(day), self.tz)
        now = await self.env.get_current_time()
        if target <= now:
            return
        if empty:
            await self._sleep(target - now)
            return
        while now < target:
            stop = min(now + SKIP_STEP, target)
            ending = self._next_successor_end(after=now)
            if ending is not None and ending < stop:
                stop = ending + ENDING_GRACE
            await self._sleep(stop - now)
            await self._release_leaked_locks()
            now = await self.env.get_current_time()
            if self.progress is not None:
                self.progress(self.back(local_date(now, self.tz)))

    async def _sleep(self, duration: dt.timedelta) -> None:
        request = SleepRequest()
        request.duration.FromTimedelta(duration)
        try:
            await self.client.test_service.unlock_time_skipping_with_sleep(
                request, timeout=SLEEP_TIMEOUT
            )
        except RPCError as error:
            now = await self.env.get_current_time()
            raise RuntimeError(
                f"The time-skipping server did not move {duration} past "
                f"{self.back(local_date(now, self.tz))} within {SLEEP_TIMEOUT} ({error})."
            ) from None

    # The time-skipping test server leaks one time-skipping lock whenever a child workflow
    # completes after its parent has closed: from then on its clock only runs at wall-clock
    # speed, and the next skip hangs. Every next term (new term or automated switch) is such a
    # child: its predecessor started it and ended first. So each skip stops just after a next
    # term's end, and once its workflow has completed the leaked lock is released.

    def _successors(self) -> list[Contract]:
        with self.database.session() as session:
            return [
                record.contract
                for record in repository.list_contracts(session)
                if record.contract.replaces is not None and record.contract.id not in self.released
            ]

    def _end_instant(self, contract: Contract) -> dt.datetime | None:
        """When a running next term's workflow ends as things stand: the first of its coming
        events (invoices first, then a cancellation or switch) that ends it, by `until`."""
        if contract.status is ContractStatus.CANCELLED:
            return None
        last = self.forward(self.scenario.until)
        state = contract
        while (day := lifecycle.next_event_date(state)) is not None and day <= last:
            state = lifecycle.advance(state).contract
            if state.status is ContractStatus.CANCELLED:
                return local_midnight(day, self.tz)
        return None

    def _next_successor_end(self, *, after: dt.datetime) -> dt.datetime | None:
        instants = [
            instant
            for contract in self._successors()
            if (instant := self._end_instant(contract)) is not None and instant > after
        ]
        return min(instants, default=None)

    async def _release_leaked_locks(self) -> None:
        """Release the lock leaked by each next term whose workflow has completed by now."""
        deadline = asyncio.get_running_loop().time() + SLEEP_TIMEOUT.total_seconds()
        while True:
            now = await self.env.get_current_time()
            waiting = False
            for contract in self._successors():
                instant = self._end_instant(contract)
                if contract.status is not ContractStatus.CANCELLED and (
                    instant is None or instant > now
                ):
                    continue
                closed = await self._closed_at(contract.id)
                if closed is None:
                    waiting = True  # it ends now; its workflow is completing
                    continue
                parent_closed = (
                    await self._closed_at(contract.replaces) if contract.replaces else None
                )
                if (
                    parent_closed is not None
                    and parent_closed <= closed
                    and await self._started_as_child(contract.id)
                ):
                    await self.client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
                self.released.add(contract.id)
            if not waiting:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("A next term's workflow did not complete after its end date.")
            await asyncio.sleep(0.01)

    async def _closed_at(self, contract_id: str) -> dt.datetime | None:
        """When the contract's workflow closed; None while it runs."""
        info = (await self._describe(contract_id)).workflow_execution_info
        if info.status == WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING:
            return None
        return info.close_time.ToDatetime(tzinfo=dt.UTC)

    async def _started_as_child(self, contract_id: str) -> bool:
        """Whether the contract's workflow was started by its predecessor's (a next term made
        after the predecessor ended is started by the simulator, and leaks no lock)."""
        info = (await self._describe(contract_id)).workflow_execution_info
        return bool(info.parent_execution.workflow_id)

    async def _describe(self, contract_id: str) -> DescribeWorkflowExecutionResponse:
        return await self.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id(contract_id)),
            )
        )

    # -- actions

    async def _send(self, index: int, action: ActionSpec) -> None:
        do = action.do
        reason = do.reason if do.reason is not None else f"scenario actions[{index}]"
        requested = Command(actor=ACTOR, reason=reason)
        if do.plan_price is not None:
            await self._send_plan_price(action, requested)
            return
        contract_id = do.contract
        assert contract_id is not None
        try:
            outcome = await self._update(
                contract_id, do.kind, workflow_message(do, requested, self.years)
            )
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            if do.new_term is None:
                self._reject(action, self._not_running(action, requested))
                return
            try:  # R13: the next term of a contract that has ended
                outcome = await new_term_after_end(
                    self.client,
                    self.database,
                    contract_id,
                    new_term_message(do.new_term, requested, self.years),
                    task_queue=TASK_QUEUE,
                    today=self.forward(action.on),
                )
            except CommandRefused as refusal:
                self._reject(action, str(refusal))
                return
        if isinstance(outcome, _Refusal):
            self._reject(action, outcome.message)
        else:
            self._accepted(action, outcome)

    async def _update(
        self,
        contract_id: str,
        kind: str,
        message: Command,
        *,
        not_refusals: frozenset[str] = EVERY_REFUSAL,
    ) -> "CommandResult | _Refusal":
        """Send a command to the contract's workflow as the update named `kind` (each is named as
        the scenario's command, see workflows/contract.py): its result, or its refusal.

        A refusal by the update's validator is recorded as the CLI does (SPEC §7), unless its
        code is one of `not_refusals`. Raises `RPCError` (`NOT_FOUND`: the workflow has ended).
        """
        handle = self.client.get_workflow_handle(workflow_id(contract_id))
        with self.database.session() as session:
            since = repository.last_position(session)
        try:
            result: CommandResult = await handle.execute_update(
                kind, message, result_type=CommandResult
            )
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            if not isinstance(cause, ApplicationError):
                return _Refusal(code=None, message=str(cause))
            if cause.non_retryable and cause.type not in not_refusals:
                # Refused by the update's validator: recorded as the CLI does (SPEC §7).
                now = await self.env.get_current_time()
                record_refusal(
                    self.database, contract_id, kind, message, cause.message, since=since, now=now
                )
            return _Refusal(code=cause.type, message=cause.message)
        return result

    async def _send_plan_price(self, action: ActionSpec, requested: Command) -> None:
        """R18 `plan_price`, as `plans set-price` does it: the plan's new price in the catalog,
        which contracts created from now on get, then the command to each of the plan's running
        contracts and those changing to it (its bulk job). One the command does not concern
        (`unaffected`: a custom price, that price already, a change away before it applies) is
        skipped, not refused; a contract not created yet gets nothing.
        """
        change = action.do.plan_price
        assert change is not None
        today, since = self.forward(action.on), self.forward(change.from_)
        currency = self.scenario.currency
        price = parse_amount(change.price, currency)
        plan = f"plan {change.plan}"
        if since < today:  # refused before anything changes, as `plans set-price` refuses it
            self._reject(
                action,
                f"Cannot set {plan}'s price to {format_money(price, currency)} from {since}: "
                f"that date is past (today is {today}). Choose {today} or later; nothing changed.",
                contract=plan,
            )
            return
        before = self._plan(change.plan).price
        catalog.set_plan_price(self.database, change.plan, price, requested, job_id=None)
        with self.database.session() as session:  # the job's selection (`plans set-price`)
            running = bulk_store.live_contract_ids(
                session, plan_code=change.plan, changing_to_plan=True
            )
        first = len(self.commands)
        message = workflow_message(action.do, requested, self.years)
        sent: list[str] = []
        unaffected: list[str] = []
        for contract_id in running:
            try:
                outcome = await self._update(
                    contract_id, "plan_price", message, not_refusals=UNAFFECTED
                )
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
                continue  # its workflow has ended: not running
            sent.append(contract_id)
            if isinstance(outcome, CommandResult):
                self._accepted(action, outcome, contract=contract_id)
            elif outcome.code in UNAFFECTED:
                unaffected.append(contract_id)
            else:
                self._reject(action, outcome.message, contract=contract_id)
        summary = (
            f"Plan {change.plan}'s price set from {format_money(before, currency)} to "
            f"{format_money(price, currency)}: contracts created from now on get it."
        )
        if not sent:
            summary += " No running contract is on it or changing to it."
        else:
            summary += (
                f" Sent to its running contracts and those changing to it ({', '.join(sent)}), "
                + (
                    "which keep their price (grandfathered)"
                    if change.grandfather
                    else f"to apply from their first invoice date on or after {since}"
                )
            )
            summary += f"; {', '.join(unaffected)} unaffected." if unaffected else "."
        self.commands.insert(
            first,
            SentCommand(
                on=action.on,
                action=action.do.kind,
                contract=plan,
                accepted=True,
                message=self.text(summary),
            ),
        )

    def _accepted(
        self, action: ActionSpec, result: CommandResult, *, contract: str | None = None
    ) -> None:
        """An accepted command, on `contract` (default: the action's)."""
        self.commands.append(
            SentCommand(
                on=action.on,
                action=action.do.kind,
                contract=_target(action, contract),
                accepted=True,
                message=self.text(result.effect),
                warnings=tuple(self.text(warning) for warning in result.warnings),
            )
        )

    def _reject(self, action: ActionSpec, message: str, *, contract: str | None = None) -> None:
        """A refused command, on `contract` (default: the action's): a rejection."""
        do = action.do
        self.rejections.append(RejectionOut(on=action.on, action=do.kind, error=self.text(message)))
        self.commands.append(
            SentCommand(
                on=action.on,
                action=do.kind,
                contract=_target(action, contract),
                accepted=False,
                message=self.text(message),
            )
        )

    def _not_running(self, action: ActionSpec, requested: Command) -> str:
        """Why a contract's workflow takes no command: it never existed, or its life is over."""
        contract_id = _target(action, None)
        with self.database.session() as session:
            try:
                contract = repository.get_contract(session, contract_id).contract
            except LookupError:
                return (
                    f"There is no contract {contract_id} on {self.forward(action.on)}: it was "
                    "never created (an automated switch creates `<id>-t2` only on the switch date)."
                )
        refusal = rule_refusal(contract, action, requested, self.years)
        if refusal is not None:
            return refusal
        return (
            f"Contract {contract_id} ended on {contract.end}: its workflow has completed and "
            "takes no more commands."
        )


class _Refusal(NamedTuple):
    """A command the contract's workflow refused: the rule's code (None when not the rule's)
    and message."""

    code: str | None
    message: str


def _target(action: ActionSpec, contract: str | None) -> str:
    """`contract`, or else the contract the action names."""
    target = contract if contract is not None else action.do.contract
    assert target is not None, f"{action.do.kind} names no contract"
    return target
