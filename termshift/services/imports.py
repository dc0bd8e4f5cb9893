"""The writer of bulk onboarding: many contracts' rows in one transaction (`contracts import`).

Each row is written as `register_contract` writes one (`activities.contracts.register`), with its
audit entry keyed by the contract's workflow id and its `contract.created` event, so a contract
imported twice, or created and then imported, is recorded once; but all rows go in together
(`repository.record_contracts`), a few statements for the whole file rather than a few per
contract.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from activities.contracts import created
from billing import events
from billing.calendar import local_date
from billing.contract import Command, Contract
from store import repository
from store.db import Database

COMMAND = "contracts import"


def register_contracts(
    database: Database,
    contracts: Sequence[Contract],
    requested: Command,
    *,
    key: Callable[[str], str],
) -> list[str]:
    """Record every contract's row, all or none; the ids that were not recorded before.

    `key(contract_id)` is the audit entry's idempotency key (the workflow id). Raises `NotFound`
    or `Conflict` as `register` does, and then nothing is written.
    """
    now = datetime.now(UTC)
    with database.session() as session:
        recorded = repository.record_contracts(session, contracts)
        repository.record_audits(
            session,
            [
                created(contract, requested, key=key(contract.id), command=COMMAND)
                for contract in contracts
            ],
        )
        new = {contract.id: contract for contract in contracts if contract.id in recorded}
        repository.record_events(
            session,
            {
                key(contract.id): events.events_of(
                    events.Effect(
                        day=local_date(now, contract.timezone),
                        before=None,
                        after=contract,
                        command=COMMAND,
                        requested=requested,
                    )
                )
                for contract in new.values()
            },
            at=now,
        )
    return [id_ for id_ in dict.fromkeys(contract.id for contract in contracts) if id_ in recorded]
