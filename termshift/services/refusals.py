"""Admin commands whose refusal is recorded as an event (`command.refused`, SPEC §7).

A command the workflow refuses inside its handler is recorded there, by the activity that audits
it. One its update validator refuses never enters the workflow's history, so no activity sees it:
`send_recording_refusal` records that one from here, after the workflow answered, unless the
workflow recorded it already — one `command.refused` per refused command either way.
"""

import uuid
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from billing import events
from billing.calendar import local_date
from billing.contract import Command
from store import repository
from store.db import Database
from termshift.services.contracts import send_command
from workflows import workflow_id
from workflows.messages import CommandResult


async def send_recording_refusal(
    client: Client, database: Database, contract_id: str, name: str, command: Command
) -> CommandResult:
    """`send_command`, and when the workflow refuses the command, its `command.refused` event.

    Raises what `send_command` raises: a refusal as `WorkflowUpdateFailedError`.
    """
    with database.session() as session:
        since = repository.last_position(session)
    try:
        return await send_command(client, contract_id, name, command)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.non_retryable:
            record_refusal(database, contract_id, name, command, cause.message, since=since)
        raise


def record_refusal(
    database: Database,
    contract_id: str,
    name: str,
    command: Command,
    message: str,
    *,
    since: int,
    now: datetime | None = None,
) -> bool:
    """Write `command.refused` for the contract unless one of this command, actor and message
    was written after the position `since` (the workflow audited it); True if written now. A
    contract that was never recorded has no events."""
    now = now or datetime.now(UTC)
    with database.session() as session:
        contract = repository.stored_contract(session, contract_id)
        if contract is None or repository.refusal_recorded(
            session, contract_id, after=since, command=name, actor=command.actor, message=message
        ):
            return False
        effect = events.Effect(
            day=local_date(now, contract.timezone),
            before=contract,
            after=contract,
            command=name,
            requested=Command(actor=command.actor, reason=command.reason),
            refusal=message,
        )
        key = f"{workflow_id(contract_id)}/refused/{uuid.uuid4().hex}"
        repository.record_events(session, {key: events.events_of(effect)}, at=now)
    return True
