"""Bulk jobs (SPEC §8): choose the contracts, preview the command on each, run it as a workflow.

A selection is a search-attribute query, a plan, a location or a list of contract ids. The
preview applies the command's own rule (`workflows.messages.decide`) to each contract's stored
state and writes nothing; the run is `workflows.bulk`'s workflow, whose pages `apply_page` sends.
A contract's answer is `applied` (the effect), `refused` (the rule's message; `command.refused` is
written as for any command) or `skipped`: the command does not concern it (a custom price under a
plan's new price), it took this job's command already, or it has ended.
"""

import asyncio
import contextlib
import csv
import io
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from billing.calendar import local_date
from billing.contract import Command, Plan
from billing.decisions import Rejection, RejectionCode
from store import repository
from store.db import Database
from store.errors import NotFound
from store.records import BulkCounts, BulkItem, BulkJob
from store.repository import bulk as store
from termshift.services.contracts import send_command
from termshift.services.refusals import record_refusal
from workflows.bulk import BulkJobWorkflow, progress
from workflows.bulk_requests import ApplyPage, BulkRun, PageDone, Tally, workflow_id
from workflows.messages import BULK_COMMANDS, InvalidInput, ScheduleChange, decide, parse_command

SKIPPED = frozenset({RejectionCode.ALREADY_APPLIED.value, RejectionCode.UNAFFECTED.value})
"""Rejection codes that mean "nothing to do here", reported as skipped rather than refused."""
ANSWER_LOST = "(Its first answer was lost on the way; it took the command from this job.)"
GIVE_UP_AFTER_ATTEMPTS = 5
"""A page retried this often records a contract it still cannot reach as refused, with why."""


class BulkRefused(Exception):
    """A selection or command refused before anything runs; the message says why."""


class Selection(BaseModel):
    """Which contracts a job takes: exactly one of these."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str | None = None
    plan: str | None = None
    location: str | None = None
    contract_ids: tuple[str, ...] | None = None
    source: str | None = None
    """Where `contract_ids` came from (a CSV file's name), for the job's description."""
    changing_to_plan: bool = False
    """With `plan`: also the contracts with a change to the plan scheduled (a plan's new price
    reaches the next term they start on it)."""

    def describe(self) -> str:
        if self.query is not None:
            return f"query {self.query}"
        if self.plan is not None and self.changing_to_plan:
            return f"plan {self.plan} (and contracts changing to it)"
        if self.plan is not None:
            return f"plan {self.plan}"
        if self.location is not None:
            return f"location {self.location}"
        count = len(self.contract_ids or ())
        return f"{count} contract{'s' if count != 1 else ''} from {self.source or 'a list'}"


Outcome = Literal["apply", "refused", "skipped"]


class PreviewRow(BaseModel):
    contract_id: str
    outcome: Outcome
    """`apply`: the contract would take the command, with `message` its effect."""
    code: str | None = None
    message: str


def new_job_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def build_command(name: str, arguments: dict[str, Any]) -> Command:
    """The command a job sends, from its update name and fields (who, why and the job id
    included); `BulkRefused` if they are not that command."""
    model = BULK_COMMANDS.get(name)
    if model is None:
        raise BulkRefused(
            f"A bulk job cannot send {name!r}; it sends one of {', '.join(BULK_COMMANDS)}."
        )
    try:
        return parse_command(model, [arguments])
    except InvalidInput as error:
        raise BulkRefused(str(error)) from None


async def select_contracts(
    client: Client | None, database: Database, selection: Selection, *, allow_empty: bool = False
) -> list[str]:
    """The ids of the contracts a selection takes, in a stable order; `BulkRefused` for a
    selection that is wrong or takes none."""
    given = [
        name
        for name in ("query", "plan", "location", "contract_ids")
        if getattr(selection, name) is not None
    ]
    if len(given) != 1:
        raise BulkRefused(
            "Choose the contracts one way: --query, --plan, --location or --csv "
            f"({'none' if not given else ' and '.join(given)} given); nothing ran."
        )
    if selection.query is not None:
        if client is None:
            raise BulkRefused("A query selection needs the Temporal server.")
        ids = await _query(client, selection.query)
    else:
        ids = _from_database(database, selection)
    if not ids and not allow_empty:
        raise BulkRefused(
            f"The selection ({selection.describe()}) holds no contract that takes commands; "
            "nothing to do."
        )
    return ids


def _from_database(database: Database, selection: Selection) -> list[str]:
    with database.session() as session:
        try:
            if selection.plan is not None:
                repository.get_plan(session, selection.plan)
                return store.live_contract_ids(
                    session, plan_code=selection.plan, changing_to_plan=selection.changing_to_plan
                )
            if selection.location is not None:
                repository.get_location(session, selection.location)
                return store.live_contract_ids(session, location_id=selection.location)
        except NotFound as error:
            raise BulkRefused(f"{error} Nothing ran.") from None
        wanted = list(dict.fromkeys(selection.contract_ids or ()))
        known = repository.contract_ids(session)
    unknown = [contract_id for contract_id in wanted if contract_id not in known]
    if unknown:
        shown = ", ".join(repr(contract_id) for contract_id in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise BulkRefused(
            f"No contract {shown}{more} in the billing database: correct the list; nothing ran."
        )
    return wanted


async def _query(client: Client, query: str) -> list[str]:
    full = f"WorkflowType = 'Contract' AND ExecutionStatus = 'Running' AND ({query})"
    try:
        return [
            execution.id.removeprefix("contract-")
            async for execution in client.list_workflows(full, page_size=1000)
        ]
    except RPCError as error:
        if error.status is RPCStatusCode.INVALID_ARGUMENT:
            raise BulkRefused(f"Invalid query {query!r}: {error.message} Nothing ran.") from None
        raise


def preview(database: Database, command: Command, contract_ids: Sequence[str]) -> list[PreviewRow]:
    """What the command would do to each contract now, by its own rule; writes nothing."""
    with database.session() as session:
        plan = _next_plan(session, command)
        contracts = {cid: repository.stored_contract(session, cid) for cid in contract_ids}
    rule = decide(command, plan)
    now = datetime.now(UTC)
    rows = []
    for contract_id in contract_ids:
        contract = contracts[contract_id]
        if contract is None:
            rows.append(_ended(contract_id))
            continue
        outcome = rule(contract, local_date(now, contract.timezone))
        if isinstance(outcome, Rejection):
            rows.append(
                PreviewRow(
                    contract_id=contract_id,
                    outcome="skipped" if outcome.code in SKIPPED else "refused",
                    code=outcome.code,
                    message=outcome.message,
                )
            )
        else:
            rows.append(
                PreviewRow(contract_id=contract_id, outcome="apply", message=outcome.effect)
            )
    return rows


def _next_plan(session: Any, command: Command) -> Plan | None:
    if not isinstance(command, ScheduleChange):
        return None
    try:
        return repository.get_plan(session, command.next_plan)
    except NotFound as error:
        raise BulkRefused(f"{error} Nothing ran.") from None


def check_command(database: Database, command: Command) -> None:
    """Refuse, before anything runs, a command whose plan does not exist."""
    with database.session() as session:
        _next_plan(session, command)


def _ended(contract_id: str) -> PreviewRow:
    return PreviewRow(
        contract_id=contract_id,
        outcome="skipped",
        code="not_running",
        message=f"Contract {contract_id} has ended: it takes no more commands.",
    )


def create_job(
    database: Database,
    job_id: str,
    name: str,
    command: Command,
    selection: Selection,
    contract_ids: Sequence[str],
) -> BulkJob:
    """Write the job and its contracts; `BulkRefused` if the id is taken by another job."""
    job = BulkJob(
        id=job_id,
        command=name,
        arguments=command.model_dump(mode="json", by_alias=True, exclude_none=True),
        selection=selection.describe(),
        selection_json=selection.model_dump(mode="json", exclude_none=True),
        actor=command.actor,
        reason=command.reason,
        created_at=datetime.now(UTC),
        total=len(contract_ids),
    )
    with database.session() as session:
        if not store.create_job(session, job, contract_ids):
            raise BulkRefused(f"Bulk job {job_id} exists already: choose another --job id.")
        return store.get_job(session, job_id)


async def workflow_ended(client: Client, job_id: str) -> str | None:
    """How the job's workflow ended ("terminated", "failed" …), or None while it runs (or if
    the server has no record of it)."""
    try:
        description = await client.get_workflow_handle(workflow_id(job_id)).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    status = description.status
    if status is None or status is WorkflowExecutionStatus.RUNNING:
        return None
    return status.name.lower().replace("_", " ")


def list_jobs(database: Database) -> list[BulkJob]:
    with database.session() as session:
        return store.list_jobs(session)


def find_job(database: Database, job_id: str) -> BulkJob | None:
    with database.session() as session:
        try:
            return store.get_job(session, job_id)
        except NotFound:
            return None


def same_command(job: BulkJob, name: str, command: Command) -> bool:
    """Whether a run again asks for the job's own command (who asks and why aside: the job
    keeps its first actor and reason)."""
    who = {"actor", "reason", "job"}
    wanted = command.model_dump(mode="json", by_alias=True, exclude_none=True)
    return job.command == name and {
        key: value for key, value in job.arguments.items() if key not in who
    } == {key: value for key, value in wanted.items() if key not in who}


async def start(
    client: Client, database: Database, job: BulkJob, *, task_queue: str, concurrency: int
) -> WorkflowHandle[Any, Any]:
    """Start the job's workflow, or join it while it runs.

    A job that is done is run again: every contract is asked again, and each that took the
    command answers so. One that was cancelled, or whose workflow ended before it was done
    (terminated, lost with a server's data), goes on: the contracts that answered keep their
    answer, the others are asked.
    """
    handle = client.get_workflow_handle(workflow_id(job.id))
    if await workflow_ended(client, job.id) is None:
        try:
            await handle.describe()
            return handle  # running
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
    with database.session() as session:
        if job.status == "done":
            store.start_again(session, job.id)
        else:
            store.go_on(session, job.id)
        counts = store.counts(session, job.id)
    return await client.start_workflow(
        BulkJobWorkflow.run,
        BulkRun(
            job_id=job.id,
            total=job.total,
            concurrency=concurrency,
            tally=Tally(applied=counts.applied, refused=counts.refused, skipped=counts.skipped),
        ),
        id=workflow_id(job.id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"Bulk job {job.id}: {job.command} on {job.selection}",
        static_details=f"{job.total} contracts; by {job.actor}"
        + (f": {job.reason}" if job.reason else ""),
    )


async def apply_page(
    client: Client,
    database: Database,
    request: ApplyPage,
    *,
    attempt: int = 1,
    heartbeat: Callable[[int], None] | None = None,
) -> PageDone:
    """Send the job's command to its next contracts without an answer, `request.concurrency` at
    once, and write their answers as they come (every second, and what is left when
    the page ends, is cancelled or fails); the job's tally after the page, as written.

    `heartbeat` is called every second with the number of answers so far, whether or not a
    contract answered: a page waiting on a busy contract is alive, a page whose worker died is
    not (its activity's heartbeat timeout says so), and a cancelled page hears of it."""
    job, page, since = await asyncio.to_thread(_page, database, request)
    command = build_command(job.command, {**job.arguments, "job": job.id})
    pending: list[BulkItem] = []
    answered = 0
    gate = asyncio.Semaphore(request.concurrency)

    async def ask(position: int, contract_id: str) -> None:
        nonlocal answered
        async with gate:
            answer = await _ask(
                client,
                job.command,
                command,
                position,
                contract_id,
                give_up=attempt >= GIVE_UP_AFTER_ATTEMPTS,
                first_run=job.runs == 1,
            )
        if answer.outcome == "refused" and answer.code != "not_sent":
            await asyncio.to_thread(
                record_refusal,
                database,
                contract_id,
                job.command,
                command,
                answer.message or "",
                since=since,
            )
        pending.append(answer)
        answered += 1

    async def flush() -> None:
        batch = pending[:]
        del pending[:]
        if batch:
            await asyncio.to_thread(_record, database, request.job_id, batch)

    async def tick() -> None:
        while True:
            if heartbeat is not None:
                heartbeat(answered)
            await asyncio.sleep(1)
            await flush()

    ticker = asyncio.create_task(tick())
    try:
        async with asyncio.TaskGroup() as group:
            for position, contract_id in page:
                group.create_task(ask(position, contract_id))
    finally:
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await asyncio.shield(flush())
    counts = await asyncio.to_thread(_counts, database, request.job_id)
    return PageDone(
        tally=Tally(applied=counts.applied, refused=counts.refused, skipped=counts.skipped),
        last_position=page[-1][0] if page else request.after,
        exhausted=len(page) < request.limit,
    )


def _page(database: Database, request: ApplyPage) -> tuple[BulkJob, list[tuple[int, str]], int]:
    """The job, its next contracts without an answer, and the last event's position now."""
    with database.session() as session:
        job = store.get_job(session, request.job_id)
        page = store.unanswered(session, request.job_id, after=request.after, limit=request.limit)
        return job, page, repository.last_position(session)


def _counts(database: Database, job_id: str) -> BulkCounts:
    with database.session() as session:
        return store.counts(session, job_id)


def _record(database: Database, job_id: str, answers: list[BulkItem]) -> None:
    with database.session() as session:
        store.record_answers(session, job_id, answers)


async def _ask(
    client: Client,
    name: str,
    command: Command,
    position: int,
    contract_id: str,
    *,
    give_up: bool,
    first_run: bool,
) -> BulkItem:
    """One contract's answer to the command.

    A contract that took the job's command already, in the job's first run, took it from this
    run — an earlier attempt of the page whose answer was lost (a worker died, a heartbeat timed
    out): it is counted as applied. In a run again, it is skipped: an earlier run applied it.
    """

    def answer(outcome: str, message: str, code: str | None = None) -> BulkItem:
        return BulkItem(
            position=position,
            contract_id=contract_id,
            outcome=outcome,
            code=code,
            message=message,
            answered_at=datetime.now(UTC),
        )

    try:
        result = await send_command(client, contract_id, name, command)
        return answer("applied", result.effect)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError from None  # the page was cancelled: no answer
        raise
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError):
            if cause.type == RejectionCode.ALREADY_APPLIED.value and first_run:
                return answer("applied", f"{cause.message} {ANSWER_LOST}", cause.type)
            outcome = "skipped" if cause.type in SKIPPED else "refused"
            return answer(outcome, cause.message, cause.type)
        if not give_up:
            raise
        return answer("refused", f"Not sent: {cause or error}", "not_sent")
    except RPCError as error:
        if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            row = _ended(contract_id)
            return answer("skipped", row.message, row.code)
        if not give_up:
            raise
        return answer("refused", f"Not sent: {error.message}", "not_sent")


def finish(database: Database, job_id: str, status: str) -> None:
    with database.session() as session:
        store.finish_job(session, job_id, status)


class JobReport(BaseModel):
    """A job as `bulk status` reports it: what it is, where it stands, every contract's answer."""

    job: BulkJob
    applied: int
    refused: int
    skipped: int
    left: int
    progress: str
    items: list[BulkItem]


def report(
    database: Database, job_id: str, *, outcome: str | None = None, items: bool = True
) -> JobReport:
    """The job, its counts and (unless `items` is False) its contracts' answers."""
    with database.session() as session:
        job = store.get_job(session, job_id)
        counts = store.counts(session, job_id)
        answers = store.items(session, job_id, outcome=outcome) if items else []
    tally = Tally(applied=counts.applied, refused=counts.refused, skipped=counts.skipped)
    return JobReport(
        job=job,
        applied=counts.applied,
        refused=counts.refused,
        skipped=counts.skipped,
        left=counts.left,
        progress=progress(BulkRun(job_id=job.id, total=job.total), tally),
        items=answers,
    )


def read_csv_ids(text: str) -> tuple[str, ...]:
    """Contract ids from a CSV: the column `contract_id` (or `id`) if there is a header with one,
    else the first column; blank lines are ignored."""
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        return ()
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((header.index(name) for name in ("contract_id", "id") if name in header), None)
    body = rows[1:] if column is not None else rows
    index = column or 0
    return tuple(row[index].strip() for row in body if len(row) > index and row[index].strip())
