"""Contracts as a newer or an older version left them: workflow input with fields this version
does not know, and locations in a currency withdrawn since they were created."""

from typing import Any

from temporalio.client import Client, WorkflowHandle

from billing.contract import Command, Contract
from termshift.services.contracts import start_options
from workflows import ContractWorkflow
from workflows.messages import ContractInput, ContractView

NEWER = {"loyalty_tier": "gold", "schema": 9}
"""Fields a newer version might add; this version knows none of them."""


def with_newer_fields(contract: Contract, created: Command) -> dict[str, Any]:
    """The workflow input for `contract` as JSON, with unknown fields at every level."""
    document = ContractInput(contract=contract, created=created).model_dump(mode="json")
    document |= NEWER
    document["created"] |= NEWER
    document["contract"] |= NEWER
    document["contract"]["location"] |= NEWER
    document["contract"]["plan"] |= NEWER | {"price_rules": [{"from_cycle": 12, "percent": 5}]}
    return document


async def start_with_input(
    client: Client, contract: Contract, document: dict[str, Any], *, task_queue: str
) -> WorkflowHandle[Any, Any]:
    """Start the contract's workflow on `document` (raw JSON) and wait until its row exists."""
    handle = await client.start_workflow(
        "Contract", document, task_queue=task_queue, **start_options(contract)
    )
    view = await handle.execute_update(ContractWorkflow.registered)
    assert isinstance(view, ContractView)
    assert view.registered
    return handle
