"""R20 over a whole billing database: every contract's stored lines and every customer's deposit.

The rule itself is `billing.coverage`; this reads what it needs from the repository — contracts,
every invoice line and every customer's holding, a handful of queries however large the database
— from one snapshot, then hands each contract over. `termshift reconcile` and the simulator
report what it returns.
"""

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy.orm import Session

from billing.contract import InvoiceLine, LineKind
from billing.coverage import Violation, check_contract, check_deposits
from store import repository
from store.db import Database

Progress = Callable[[int, int], None]
"""Called with (contracts checked, contracts in all) as the check goes, first with (0, all)."""

_DEPOSIT_KINDS = (LineKind.DEPOSIT, LineKind.DEPOSIT_REFUND)


def check_database(database: Database, *, progress: Progress | None = None) -> list[Violation]:
    """Every violation of R20 in the database: by contract, then the customers' deposits."""
    with database.session() as session:
        _one_snapshot(session)
        contracts = [record.contract for record in repository.list_contracts(session)]
        lines: dict[str, list[InvoiceLine]] = defaultdict(list)
        deposit_lines: dict[str, list[InvoiceLine]] = defaultdict(list)
        for billed in repository.billed_lines(session):
            lines[billed.contract_id].append(billed.line)
            if billed.line.kind in _DEPOSIT_KINDS:
                deposit_lines[billed.customer_id].append(billed.line)
        customers = repository.list_customers(session)
        currencies = {
            location.id: location.currency for location in repository.list_locations(session)
        }
        held = repository.held_by_customers(session)
    if progress is not None:
        progress(0, len(contracts))
    violations: list[Violation] = []
    for done, contract in enumerate(contracts, start=1):
        violations += check_contract(contract, lines.get(contract.id, ()))
        if progress is not None:
            progress(done, len(contracts))
    for customer in customers:
        deposit = check_deposits(
            customer_id=customer.id,
            currency=currencies[customer.location_id],
            deposit_lines=deposit_lines.get(customer.id, ()),
            held=held[customer.id],
        )
        if deposit is not None:
            violations.append(deposit)
    return violations


def _one_snapshot(session: Session) -> None:
    """Make every read of the session see the same committed state, while workers write.

    A contract's row, its invoice lines and its deposit movements are written in one transaction;
    read by statements that each see a later state, an invoice issued in between would look like
    days billed past the contract's next invoice date. PostgreSQL reads one snapshot under
    `REPEATABLE READ`; SQLite already does, in the transaction `BEGIN IMMEDIATE` opens.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
