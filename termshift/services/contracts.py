"""Bringing contracts into being: one at a time (`create_contract`), many whose rows are
already written (`start_recorded`, for `contracts import`), or the next term of a contract that
has ended (`new_term_after_end`).

`create_contract` starts the workflow with update-with-start; the workflow's first activity writes
the row, and the update returns once it is written, so a contract exists either wholly (row and
workflow) or not at all, and running the same creation again joins the running workflow instead
of starting a second one.
"""

import asyncio
import random
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.contracts import RecordNewTerm, write_new_term
from billing import lifecycle, rules
from billing.calendar import local_date
from billing.contract import Command, Contract, ContractStatus
from store import repository
from store.db import Database
from store.errors import Conflict
from workflows import ContractWorkflow, visibility, workflow_id
from workflows.messages import (
    CommandResult,
    ContractInput,
    ContractView,
    NewTerm,
    decide_new_term,
)


class ContractNotCreated(Exception):
    """The contract was refused (the message says why); nothing was created."""


class ContractNotRecordedYet(Exception):
    """The workflow runs but no worker has recorded the contract yet."""


async def create_contract(
    client: Client,
    contract: Contract,
    requested: Command,
    *,
    task_queue: str,
    timeout: float = 30.0,
) -> ContractView:
    """Start the contract's workflow (or join the running one) and wait until its row exists."""
    operation = WithStartWorkflowOperation(
        ContractWorkflow.run,
        ContractInput(contract=contract, created=requested),
        task_queue=task_queue,
        **start_options(contract),
    )
    try:
        return await asyncio.wait_for(
            client.execute_update_with_start_workflow(
                ContractWorkflow.registered, start_workflow_operation=operation
            ),
            timeout=timeout,
        )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise ContractNotRecordedYet(
            f"The workflow {workflow_id(contract.id)} started, but no worker recorded the contract "
            f"within {timeout:.0f}s. Is the scheduler running (`scripts/up`)? The contract is "
            "recorded as soon as a worker runs; run the same command again to check."
        ) from None
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise ContractNotCreated(message) from None
    except RPCError as error:
        if error.status is RPCStatusCode.ALREADY_EXISTS:
            raise ContractNotCreated(
                f"Contract {contract.id} already had a workflow that has ended; "
                "it cannot be created again."
            ) from None
        raise


def start_options(contract: Contract) -> dict[str, Any]:
    """How every contract workflow starts: its id, never a second run, its face in the UI."""
    return {
        "id": workflow_id(contract.id),
        "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
        "search_attributes": visibility.initial_search_attributes(contract),
        "static_summary": visibility.summary(contract),
        "static_details": visibility.static_details(contract),
    }


async def start_recorded(
    client: Client,
    contracts: Sequence[Contract],
    requested: Command,
    *,
    task_queue: str,
    concurrency: int = 50,
    started: Callable[[], None] | None = None,
) -> list[str]:
    """Start the workflows of contracts whose rows are already written (`contracts import`).

    Each start is one request and returns at once (no worker round trip): the workflow knows its
    row exists. A workflow that runs already is joined, not started again; one that has ended is
    never started again (its id is returned, for the admin to look at). `started()` is called
    after each contract, for progress.
    """
    limit = asyncio.Semaphore(concurrency)
    ended: list[str] = []

    async def start(contract: Contract) -> None:
        async with limit:
            try:
                await client.start_workflow(
                    ContractWorkflow.run,
                    ContractInput(contract=contract, created=requested, registered=True),
                    task_queue=task_queue,
                    **start_options(contract),
                )
            except WorkflowAlreadyStartedError:
                ended.append(contract.id)
        if started is not None:
            started()

    await asyncio.gather(*(start(contract) for contract in contracts))
    return sorted(ended)


class CommandRefused(Exception):
    """A command the rules refuse; `code` is the rejection's code. Nothing changed."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


async def new_term_after_end(
    client: Client,
    database: Database,
    old_id: str,
    command: NewTerm,
    *,
    task_queue: str,
    today: date | None = None,
) -> CommandResult:
    """R13: the next term of a contract that has ended (the manual change's second step on or
    after its cancellation date, or a member who returns months later).

    The old contract's workflow has completed and takes no more commands, so the same rule the
    workflow applies (`rules.new_term`) decides here, on the stored contract and what it still
    holds as a deposit. The new term's row, the old contract's link to it and the audit entry are
    written in one transaction, then the new term's workflow starts knowing its row exists.
    Run again after an interruption between the two, it starts the missing workflow and is then
    refused (the next term exists). `today` is the location's date (default: now).
    """
    with database.session() as session:
        old = repository.get_contract(session, old_id).contract
        if old.status is not ContractStatus.CANCELLED:
            raise ContractNotEnded(old.id)
        plan = (
            old.plan
            if command.plan in (None, old.plan.code)
            else repository.get_plan(session, command.plan)
        )
        held = repository.held_by_contract(session, old.id)
        lined_up = old.successor_id and repository.get_contract(session, old.successor_id).contract
    requested = Command(actor=command.actor, reason=command.reason)
    if lined_up:  # repair an interrupted new term: its workflow may be missing
        await start_recorded(client, [lined_up], requested, task_queue=task_queue)
    day = today or local_date(datetime.now(UTC), old.timezone)
    outcome = decide_new_term(command, old, plan, day, deposit_held=held)
    if isinstance(outcome, rules.Rejection):
        raise CommandRefused(outcome.message, code=outcome.code)
    successor = outcome.contract
    linked = old.model_copy(update={"successor_id": successor.id})
    try:
        with database.session() as session:
            write_new_term(
                session,
                RecordNewTerm(
                    old=linked,
                    successor=successor,
                    command="new_term",
                    requested=requested,
                    effect=outcome.effect,
                    key=f"{workflow_id(old.id)}/new_term/{successor.id}",
                ),
                today=day,
            )
    except Conflict as error:
        raise CommandRefused(
            f"Cannot create contract {successor.id}: {error}", code="conflict"
        ) from None
    await start_recorded(client, [successor], requested, task_queue=task_queue)
    return CommandResult(
        effect=outcome.effect,
        warnings=outcome.warnings,
        view=ContractView(
            contract=linked,
            next_event_date=None,
            next_event=lifecycle.describe_next_event(linked),
            next_invoice_date=None,
            registered=True,
            invoices_issued=0,
            refused=(),
            warnings=outcome.warnings,
        ),
        successor=successor,
    )


class ContractNotEnded(Exception):
    """The contract has not ended, so its running workflow takes the command."""


BUSY_RETRY_SECONDS = 60.0
"""How long `send_command` keeps retrying while the contract has too many commands in flight."""


async def send_command(
    client: Client, contract_id: str, name: str, command: Command
) -> CommandResult:
    """Execute the admin command `name` on the contract's workflow and return what it did.

    The server takes a bounded number of updates in flight per workflow; one sent beyond that is
    refused before it enters history, so it is sent again, with jittered backoff, until it is
    taken or BUSY_RETRY_SECONDS have passed. Refusals by the rules raise
    `WorkflowUpdateFailedError`, exactly as from `execute_update`.
    """
    handle = client.get_workflow_handle(workflow_id(contract_id))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BUSY_RETRY_SECONDS
    delay = 0.05
    while True:
        try:
            result: CommandResult = await handle.execute_update(
                name, command, result_type=CommandResult
            )
            return result
        except RPCError as error:
            if error.status is not RPCStatusCode.RESOURCE_EXHAUSTED or loop.time() > deadline:
                raise
        await asyncio.sleep(delay * (0.5 + random.random()))  # jitter, not a secret
        delay = min(delay * 2, 2.0)
