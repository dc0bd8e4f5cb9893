"""R20 in `reconcile`: every served day billed exactly once, every deposit adding up.

`termshift.services.served_days.check_database` checks the whole billing database against the rule
(`billing.coverage`); each violation becomes a **billing** finding that needs attention. None is
repaired: reconcile reports money and never invents it — it writes no invoice and no deposit
movement; an admin corrects the invoices.
"""

from billing.commands import Cli, full_command
from billing.coverage import Violation
from store.db import Database
from termshift.services.reconcile_report import (
    BillingViolation,
    Finding,
    FindingKind,
    Outcome,
    ReconcileReport,
)
from termshift.services.served_days import Progress, check_database
from workflows import workflow_id


def check_billing(database: Database, *, progress: Progress | None = None) -> list[Finding]:
    """A billing finding for each violation of R20 in the database: by contract, in the order
    the contracts were recorded, then the customers' deposits."""
    return [_finding(violation) for violation in check_database(database, progress=progress)]


def billing_report(
    database: Database, *, dry_run: bool = False, progress: Progress | None = None
) -> ReconcileReport:
    """`reconcile --billing-only`: R20 alone, without Temporal (which may be down)."""
    contracts = 0

    def counted(done: int, total: int) -> None:
        nonlocal contracts
        contracts = total
        if progress is not None:
            progress(done, total)

    findings = check_billing(database, progress=counted)
    return ReconcileReport(
        dry_run=dry_run,
        workflows_compared=False,
        namespace=None,
        task_queue=None,
        contracts_in_database=contracts,
        running_workflows=None,
        checked=contracts,
        findings=findings,
        notes=[
            "Only the billing database was checked (--billing-only): its contracts were not "
            "compared with their workflows."
        ],
    )


def _finding(violation: Violation) -> Finding:
    contract_id = violation.contract_id
    if contract_id is None:
        action = (
            "Not repaired: reconcile writes no invoice and no deposit movement. Compare the "
            f"deposit lines of {full_command(Cli.INVOICES, customer=violation.customer_id)} with "
            "the customer's deposit ledger and correct them by hand."
        )
    else:
        action = (
            "Not repaired: reconcile writes no invoice. Look at "
            f"{full_command(Cli.SHOW, contract_id)} (its terms and invoices) and correct the "
            "invoices by hand."
        )
    return Finding(
        kind=FindingKind.BILLING,
        contract_id=contract_id,
        workflow_id=None if contract_id is None else workflow_id(contract_id),
        outcome=Outcome.NEEDS_ATTENTION,
        detail=violation.detail,
        action=action,
        violation=BillingViolation(
            kind=violation.kind,
            customer_id=violation.customer_id,
            start=violation.start,
            end=violation.end,
            days=violation.days,
            amount=violation.amount,
            currency=violation.currency,
        ),
    )
