"""Bringing a contract into being: its workflow started with update-with-start, its row written.

The CLI and the tests use this; the workflow's first activity writes the row, and the update
returns once it is written, so a contract exists either wholly (row and workflow) or not at all,
and running the same creation again joins the running workflow instead of starting a second one.
"""

import asyncio

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from billing.contract import Command, Contract
from workflows import ContractWorkflow, visibility, workflow_id
from workflows.messages import ContractInput, ContractView


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
        id=workflow_id(contract.id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=visibility.initial_search_attributes(contract),
        static_summary=visibility.summary(contract),
        static_details=visibility.details(contract),
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
