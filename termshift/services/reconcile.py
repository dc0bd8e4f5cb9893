"""Reconciling the billing database with Temporal: every live contract has its running workflow.

The database is the system of record and each contract's workflow `contract-<id>` its only
scheduler, so the two must agree. `reconcile` compares them and reports each disagreement as a
`Finding`:

- **missing workflow** — the database says `inactive` or `active`, but no workflow runs. If the id
  never had a workflow, it is started again from the stored contract (`create_contract`, which is
  idempotent: the register activity finds the row). If a run exists that has closed (completed,
  terminated, failed…), it is *not* started again, so the contract can never be billed twice:
  an admin decides (the update-with-start's `REJECT_DUPLICATE` policy guards this too).
- **orphan workflow** — a `contract-*` workflow runs, but the database has no row. While it still
  waits for its registration (its `state` says `registered=false`) a worker will write the row:
  nothing to do. Otherwise it is reported with the command to inspect it — never terminated here.
- **out of sync** — the database's status differs from the workflow's live `state`
  (informational: the workflow writes its state with its next step).
- **unreadable state** — a running workflow whose `state` query fails (e.g. a failing workflow
  task): an admin must look at it.

Webhook endpoints (SPEC §7) are compared too: each endpoint has its delivery workflow
`webhooks-<id>` running. One that is missing or closed is started again (**delivery workflow**,
repaired): its deliveries are in the database, so the new run goes on where the last one stopped,
each event delivered at least once. A removed endpoint's workflow still running is terminated.

Before any of that, the billing database is checked against R20 as found
(`termshift.services.reconcile_billing`): each served day not billed exactly once, and each
deposit that does not add up, is a **billing** finding that needs attention — never repaired here.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError, RPCStatusCode

from billing.commands import Cli, full_command
from billing.contract import Command, Contract, ContractStatus
from store import repository
from store.db import Database
from store.errors import NotFound
from store.repository import webhooks
from termshift.services.contracts import ContractNotCreated, ContractNotRecordedYet, create_contract
from termshift.services.reconcile_billing import check_billing
from termshift.services.reconcile_report import Finding, FindingKind, Outcome, ReconcileReport
from termshift.services.served_days import Progress as BillingProgress
from termshift.services.webhooks import start_delivery
from termshift.settings import Settings
from workflows import ContractWorkflow, visibility, workflow_id
from workflows import webhooks as delivery
from workflows.messages import ContractInput, ContractView

RUNNING_CONTRACTS = "WorkflowType = 'Contract' AND ExecutionStatus = 'Running'"
"""The visibility query for every running contract workflow of the namespace."""
RUNNING_DELIVERIES = "WorkflowType = 'WebhookEndpoint' AND ExecutionStatus = 'Running'"
PREFIX = workflow_id("")
LIVE = frozenset({ContractStatus.INACTIVE, ContractStatus.ACTIVE})
"""Statuses whose contract must have a running workflow."""
REGISTER_ACTIVITY = "register_contract"
NO_WORKER_WAIT = 2.0
"""How long a repair waits for its registration when no worker polls the task queue."""


Progress = Callable[[str], None]


async def reconcile(
    client: Client,
    database: Database,
    *,
    task_queue: str,
    requested: Command,
    dry_run: bool = False,
    query_timeout: float = 5.0,
    registration_timeout: float = 30.0,
    concurrency: int = 16,
    progress: Progress | None = None,
    billing_progress: BillingProgress | None = None,
    settings: Settings | None = None,
) -> ReconcileReport:
    """Check the billing database against R20, then compare it with the client's namespace and
    repair what is safe unless `dry_run`.

    Missing workflows are started on `task_queue`; `requested` (who and why) goes to the audit log.
    `progress` hears about the workflows in words, `billing_progress` counts the contracts checked
    against R20. Webhook delivery workflows are started as `settings` say (task queue, retries).
    """
    # In a thread: the check reads and computes for a while without awaiting anything.
    billing = await asyncio.to_thread(check_billing, database, progress=billing_progress)
    reconciler = _Reconciler(
        client,
        database,
        task_queue=task_queue,
        requested=requested,
        dry_run=dry_run,
        query_timeout=timedelta(seconds=query_timeout),
        registration_timeout=registration_timeout,
        progress=progress or (lambda _message: None),
        settings=settings or Settings(),
    )
    report = await reconciler.run(concurrency)
    report.findings += billing
    return report


class _Reconciler:
    def __init__(
        self,
        client: Client,
        database: Database,
        *,
        task_queue: str,
        requested: Command,
        dry_run: bool,
        query_timeout: timedelta,
        registration_timeout: float,
        progress: Progress,
        settings: Settings,
    ) -> None:
        self._client = client
        self._database = database
        self._task_queue = task_queue
        self._requested = requested
        self._dry_run = dry_run
        self._query_timeout = query_timeout
        self._registration_timeout = registration_timeout
        self._say = progress
        self._settings = settings
        self._workers: dict[str, asyncio.Task[bool]] = {}
        self._unanswered: dict[str, int] = {}
        """Task queue → running workflows whose state could not be compared (no worker)."""

    async def run(self, concurrency: int) -> ReconcileReport:
        # Workflows first: a contract created meanwhile then has its row in what is read next.
        self._say("Listing running contract workflows…")
        running: dict[str, WorkflowExecution] = {}
        async for execution in self._client.list_workflows(RUNNING_CONTRACTS):
            if execution.id.startswith(PREFIX):
                running[execution.id] = execution
        self._say("Reading contracts from the billing database…")
        with self._database.session() as session:
            records = {record.contract.id: record for record in repository.list_contracts(session)}
        orphans = [wid for wid in running if wid.removeprefix(PREFIX) not in records]
        checks: list[Awaitable[Finding | None]] = [
            self._check_contract(record.contract, running.get(workflow_id(record.contract.id)))
            for record in records.values()
        ]
        checks += [self._check_orphan(running[wid]) for wid in orphans]

        limit = asyncio.Semaphore(max(1, concurrency))
        done = 0

        async def check(job: Awaitable[Finding | None]) -> Finding | None:
            nonlocal done
            async with limit:
                finding = await job
            done += 1
            self._say(f"Checked {done} of {len(checks)} contracts…")
            return finding

        results = await asyncio.gather(*(check(job) for job in checks))
        deliveries, endpoints_checked = await self._check_deliveries()
        findings = sorted(
            [finding for finding in results if finding is not None] + deliveries,
            key=lambda finding: (
                list(FindingKind).index(finding.kind),
                finding.contract_id or "",
                finding.endpoint_id or "",
            ),
        )
        notes = [
            f"No worker answered on task queue {queue}: the live state of {count} running "
            "workflow(s) was not compared with the database. Is the worker running?"
            for queue, count in sorted(self._unanswered.items())
        ]
        return ReconcileReport(
            dry_run=self._dry_run,
            workflows_compared=True,
            namespace=self._client.namespace,
            task_queue=self._task_queue,
            contracts_in_database=len(records),
            running_workflows=len(running),
            checked=len(checks),
            endpoints_checked=endpoints_checked,
            findings=findings,
            notes=notes,
        )

    # -- contracts in the database ----------------------------------------------------------

    async def _check_contract(
        self, contract: Contract, execution: WorkflowExecution | None
    ) -> Finding | None:
        wid = workflow_id(contract.id)
        handle = self._client.get_workflow_handle(wid)
        queue = execution.task_queue if execution is not None else None
        if execution is None:
            # Not listed as running: visibility may lag behind, the description does not.
            description = await _describe(handle)
            if description is not None and description.status is WorkflowExecutionStatus.RUNNING:
                queue = description.raw_description.execution_config.task_queue.name
            elif contract.status not in LIVE:
                return None
            elif description is None:
                return await self._missing(contract)
            else:
                return _closed(contract, description)
        return await self._compare(contract, handle, queue or self._task_queue)

    async def _missing(self, contract: Contract) -> Finding:
        wid = workflow_id(contract.id)

        def finding(outcome: Outcome, action: str) -> Finding:
            return Finding(
                kind=FindingKind.MISSING_WORKFLOW,
                contract_id=contract.id,
                workflow_id=wid,
                outcome=outcome,
                detail=f"The database says {contract.status.value}, but workflow {wid} was "
                "never started (no run exists).",
                action=action,
                database_status=contract.status,
                workflow_status="missing",
            )

        if self._dry_run:
            return finding(
                Outcome.WOULD_REPAIR,
                f"Would start {wid} on task queue {self._task_queue} from the stored contract.",
            )
        has_worker = await self._has_worker(self._task_queue)
        wait = self._registration_timeout if has_worker else NO_WORKER_WAIT
        try:
            view = await create_contract(
                self._client, contract, self._requested, task_queue=self._task_queue, timeout=wait
            )
        except ContractNotCreated as error:
            return finding(Outcome.NEEDS_ATTENTION, f"Not started: {error}")
        except ContractNotRecordedYet:
            return finding(
                Outcome.NEEDS_ATTENTION,
                f"Started {wid} on task queue {self._task_queue}, but no worker picked it up "
                f"within {wait:.0f}s: start the worker (`scripts/up` or `python worker.py`); "
                "the workflow continues once it runs.",
            )
        except RPCError as error:
            return finding(Outcome.NEEDS_ATTENTION, f"Could not start it: {error}")
        self._audit(contract, f"Workflow {wid} was missing: started it from the stored contract.")
        return finding(
            Outcome.REPAIRED,
            f"Started {wid} from the stored contract; it is registered. {view.next_event}",
        )

    def _recorded(self, contract_id: str) -> bool:
        with self._database.session() as session:
            try:
                repository.get_contract(session, contract_id)
            except NotFound:
                return False
            return True

    def _audit(self, contract: Contract, effect: str) -> None:
        with self._database.session() as session:
            repository.record_audit(
                session,
                key=f"reconcile/{uuid.uuid4()}",
                at=datetime.now(UTC),
                actor=self._requested.actor,
                reason=self._requested.reason,
                command="reconcile",
                contract_id=contract.id,
                effect=effect,
            )

    async def _compare(
        self, contract: Contract, handle: WorkflowHandle[Any, Any], queue: str
    ) -> Finding | None:
        view = await self._state(handle, queue)
        if isinstance(view, WorkflowQueryFailedError):
            return Finding(
                kind=FindingKind.UNREADABLE_STATE,
                contract_id=contract.id,
                workflow_id=handle.id,
                outcome=Outcome.NEEDS_ATTENTION,
                detail=f"Workflow {handle.id} runs, but its state query fails: {view}",
                action=f"Inspect it: `temporal workflow describe -w {handle.id}` "
                "(a failing workflow task shows there) and the worker's log.",
                database_status=contract.status,
                workflow_status="running",
            )
        if view is None:
            self._unanswered[queue] = self._unanswered.get(queue, 0) + 1
            return None
        live = view.contract.status
        if live is contract.status:
            return None
        return Finding(
            kind=FindingKind.OUT_OF_SYNC,
            contract_id=contract.id,
            workflow_id=handle.id,
            outcome=Outcome.INFO,
            detail=f"The database says {contract.status.value}, the workflow's state says "
            f"{live.value}.",
            action="None (informational): the workflow writes its state with its next step; "
            f"compare with {full_command(Cli.SHOW, contract.id)}.",
            database_status=contract.status,
            workflow_status="running",
            workflow_state_status=live,
        )

    # -- webhook endpoints ------------------------------------------------------------------

    async def _check_deliveries(self) -> tuple[list[Finding], int]:
        """Each endpoint's delivery workflow runs; no removed endpoint's does."""
        self._say("Checking webhook delivery workflows…")
        running = {
            execution.id
            async for execution in self._client.list_workflows(RUNNING_DELIVERIES)
            if execution.id.startswith(delivery.workflow_id(""))
        }
        with self._database.session() as session:
            endpoints = webhooks.list_endpoints(session, removed=True)
        findings: list[Finding] = []
        for endpoint in endpoints:
            wid = delivery.workflow_id(endpoint.id)
            handle = self._client.get_workflow_handle(wid)
            if endpoint.removed_at is not None:
                if wid in running or await _running(handle):
                    findings.append(await self._stop_delivery(endpoint.id, handle))
                continue
            if wid in running or await _running(handle):
                continue
            findings.append(await self._restart_delivery(endpoint.id, handle))
        return findings, len(endpoints)

    async def _restart_delivery(
        self, endpoint_id: str, handle: WorkflowHandle[Any, Any]
    ) -> Finding:
        description = await _describe(handle)
        if description is None:
            state = "was never started"
            status = "missing"
        else:
            status = description.status.name.lower() if description.status else "closed"
            state = f"is {status}"
        queue = self._settings.webhook_task_queue

        detail = (
            f"Webhook endpoint {endpoint_id} receives nothing: its delivery workflow "
            f"{handle.id} {state}."
        )

        def finding(outcome: Outcome, action: str) -> Finding:
            return _delivery_finding(endpoint_id, handle.id, status, outcome, detail, action)

        if self._dry_run:
            return finding(
                Outcome.WOULD_REPAIR,
                f"Would start {handle.id} on task queue {queue}; it goes on with the first event "
                "not yet delivered.",
            )
        try:
            await start_delivery(self._client, endpoint_id, self._settings, again=True)
        except RPCError as error:
            return finding(Outcome.NEEDS_ATTENTION, f"Could not start it: {error}")
        return finding(
            Outcome.REPAIRED,
            f"Started {handle.id} on task queue {queue}; it goes on with the first event not yet "
            "delivered.",
        )

    async def _stop_delivery(self, endpoint_id: str, handle: WorkflowHandle[Any, Any]) -> Finding:
        detail = (
            f"Webhook endpoint {endpoint_id} was removed, but its delivery workflow {handle.id} "
            "still runs (it sends nothing more)."
        )

        def finding(outcome: Outcome, action: str) -> Finding:
            return _delivery_finding(endpoint_id, handle.id, "running", outcome, detail, action)

        if self._dry_run:
            return finding(Outcome.WOULD_REPAIR, f"Would terminate {handle.id}.")
        try:
            await handle.terminate(reason="webhook endpoint removed")
        except RPCError as error:
            return finding(Outcome.NEEDS_ATTENTION, f"Could not terminate it: {error}")
        return finding(Outcome.REPAIRED, f"Terminated {handle.id}.")

    # -- running workflows without a row ------------------------------------------------------

    async def _check_orphan(self, execution: WorkflowExecution) -> Finding | None:
        wid = execution.id
        contract_id = wid.removeprefix(PREFIX)
        handle = self._client.get_workflow_handle(wid)
        view = await self._state(handle, execution.task_queue)
        if isinstance(view, ContractView):
            registered = view.registered
            live: ContractStatus | None = view.contract.status
        else:
            registered = await self._registered_in_history(handle, contract_id)
            live = None

        def finding(outcome: Outcome, detail: str, action: str) -> Finding:
            return Finding(
                kind=FindingKind.ORPHAN_WORKFLOW,
                contract_id=contract_id,
                workflow_id=wid,
                outcome=outcome,
                detail=detail,
                action=action,
                workflow_status="running",
                workflow_state_status=live,
            )

        if not registered:
            worker = await self._has_worker(execution.task_queue)
            waiting = "" if worker else f" (no worker polls task queue {execution.task_queue} now)"
            return finding(
                Outcome.INFO,
                f"Workflow {wid} runs, but the database has no contract {contract_id}: "
                f"it still waits for its registration{waiting}.",
                f"Nothing to do: a worker on task queue {execution.task_queue} records the "
                "contract.",
            )
        if self._recorded(contract_id):
            return None  # its row was written after the database was read
        return finding(
            Outcome.NEEDS_ATTENTION,
            f"Workflow {wid} runs and says its contract is recorded, but the database has no "
            f"contract {contract_id} (another database? a restored backup?).",
            f"Not terminated. Inspect it: `temporal workflow describe -w {wid}`; if it must not "
            f"bill, `temporal workflow terminate -w {wid} --reason ...`.",
        )

    async def _registered_in_history(
        self, handle: WorkflowHandle[Any, Any], contract_id: str
    ) -> bool:
        """Registered when its input says so (continued, or a successor) or its register activity
        completed in this run."""
        scheduled: set[int] = set()
        registration = visibility.registration_summary(contract_id)
        async for event in handle.fetch_history_events():
            if event.HasField("workflow_execution_started_event_attributes"):
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                try:
                    decoded = await self._client.data_converter.decode(payloads, [ContractInput])
                except Exception:  # an input this version cannot read: look at the activities
                    decoded = []
                if decoded and isinstance(decoded[0], ContractInput) and decoded[0].registered:
                    return True
            elif event.HasField("activity_task_scheduled_event_attributes"):
                attributes = event.activity_task_scheduled_event_attributes
                if attributes.activity_type.name == REGISTER_ACTIVITY:
                    scheduled.add(event.event_id)
            elif (
                event.HasField("activity_task_completed_event_attributes")
                and event.activity_task_completed_event_attributes.scheduled_event_id in scheduled
            ):
                return True
            elif (
                event.HasField("marker_recorded_event_attributes")
                and not event.marker_recorded_event_attributes.HasField("failure")
                and event.user_metadata.HasField("summary")
                and await self._summary(event.user_metadata.summary) == registration
            ):
                return True  # the local activity that writes the row, completed
        return False

    async def _summary(self, payload: Payload) -> str | None:
        try:
            [text] = await self._client.data_converter.decode([payload], [str])
        except Exception:  # not a summary this project wrote
            return None
        return text if isinstance(text, str) else None

    # -- Temporal ---------------------------------------------------------------------------

    async def _state(
        self, handle: WorkflowHandle[Any, Any], queue: str
    ) -> ContractView | WorkflowQueryFailedError | None:
        """The workflow's live state; the query's failure; None when no worker answers."""
        if not await self._has_worker(queue):
            return None
        try:
            return await handle.query(ContractWorkflow.state, rpc_timeout=self._query_timeout)
        except WorkflowQueryFailedError as error:
            return error
        except RPCError:
            return None

    async def _has_worker(self, queue: str) -> bool:
        """Whether a worker polls `queue` (a query to a workflow without one would hang)."""
        if queue not in self._workers:
            self._workers[queue] = asyncio.create_task(self._pollers(queue))
        return await self._workers[queue]

    async def _pollers(self, queue: str) -> bool:
        request = DescribeTaskQueueRequest(
            namespace=self._client.namespace,
            task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        try:
            response = await self._client.workflow_service.describe_task_queue(request)
        except RPCError:
            return True  # cannot tell: ask, the query's timeout bounds the wait
        return len(response.pollers) > 0


async def _describe(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionDescription | None:
    try:
        return await handle.describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


def _delivery_finding(
    endpoint_id: str, wid: str, status: str, outcome: Outcome, detail: str, action: str
) -> Finding:
    return Finding(
        kind=FindingKind.DELIVERY_WORKFLOW,
        contract_id=None,
        workflow_id=wid,
        endpoint_id=endpoint_id,
        outcome=outcome,
        detail=detail,
        action=action,
        workflow_status=status,
    )


async def _running(handle: WorkflowHandle[Any, Any]) -> bool:
    """Running now (visibility may lag behind, the description does not)."""
    description = await _describe(handle)
    return description is not None and description.status is WorkflowExecutionStatus.RUNNING


def _closed(contract: Contract, description: WorkflowExecutionDescription) -> Finding:
    wid = workflow_id(contract.id)
    status = description.status.name.lower() if description.status else "closed"
    when = f" at {description.close_time:%Y-%m-%d %H:%M} UTC" if description.close_time else ""
    return Finding(
        kind=FindingKind.MISSING_WORKFLOW,
        contract_id=contract.id,
        workflow_id=wid,
        outcome=Outcome.NEEDS_ATTENTION,
        detail=f"The database says {contract.status.value}, but workflow {wid} is {status}"
        f"{when}. It is not started again, so the contract cannot be billed twice.",
        action=f"Decide by hand. Inspect it: `temporal workflow describe -w {wid}` and "
        f"{full_command(Cli.SHOW, contract.id)}.",
        database_status=contract.status,
        workflow_status=status,
    )
