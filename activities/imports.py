"""The writer of bulk onboarding: many contracts' rows in one transaction (`contracts import`).

Each row is written exactly as `register_contract` writes one (`activities.contracts.register`),
with its audit entry keyed by the contract's workflow id, so a contract imported twice, or
created and then imported, is recorded once.
"""

from collections.abc import Callable, Sequence

from activities.contracts import register
from billing.contract import Command, Contract
from store.db import Database


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
    with database.session() as session:
        return [
            contract.id
            for contract in contracts
            if register(
                session, contract, requested, key=key(contract.id), command="contracts import"
            )
        ]
