"""What `reconcile` found: each disagreement as a `Finding`, and the report that holds them.

Two checks fill it: the database against Temporal (`termshift.services.reconcile`: missing,
orphan, out of sync, unreadable workflows) and the billing rules against the database
(`termshift.services.reconcile_billing`: R20, served days not billed exactly once).
"""

from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, computed_field

from billing.contract import ContractStatus
from billing.coverage import ViolationKind


class FindingKind(StrEnum):
    MISSING_WORKFLOW = "missing workflow"
    ORPHAN_WORKFLOW = "orphan workflow"
    OUT_OF_SYNC = "out of sync"
    UNREADABLE_STATE = "unreadable state"
    DELIVERY_WORKFLOW = "delivery workflow"
    """A webhook endpoint without its running delivery workflow, or a removed endpoint's still
    running (its `endpoint_id` says which)."""
    BILLING = "billing"
    """A breach of R20 in the stored invoices or deposits (its `violation` says which)."""


class Outcome(StrEnum):
    REPAIRED = "repaired"
    WOULD_REPAIR = "would repair"
    """Dry run: a run without `--dry-run` repairs it."""
    NEEDS_ATTENTION = "needs attention"
    """Not repaired automatically: an admin decides."""
    INFO = "info"
    """Nothing to do."""


class BillingViolation(BaseModel):
    """A breach of R20 (`billing.coverage.Violation`) as a billing finding carries it."""

    model_config = ConfigDict(frozen=True)

    kind: ViolationKind
    """`gap`, `overlap`, `uncharged credit`, `wrong amount` or `deposit`."""
    customer_id: str
    start: date | None
    end: date | None
    """The days `[start, end)` concerned: `end` is the first day not concerned (None for a
    deposit)."""
    days: int
    amount: Decimal
    """The money involved, in `currency` (a string in JSON): not charged (gap), charged or
    credited in excess (overlap, uncharged credit), the line less what the rules give (wrong
    amount), held less what the invoices charged net of refunds (deposit)."""
    currency: str


class Finding(BaseModel):
    """One disagreement — between the database and Temporal, or between the stored invoices and
    the billing rules — and what was (or would be) done."""

    model_config = ConfigDict(frozen=True)

    kind: FindingKind
    contract_id: str | None
    """None for a customer's deposit (a billing finding; its `violation` names the customer)."""
    workflow_id: str | None
    """The contract's workflow; None for a customer's deposit."""
    outcome: Outcome
    detail: str
    """What disagrees, in words."""
    action: str
    """What was done (`repaired`), would be done (`would repair`), or what to do."""
    database_status: ContractStatus | None = None
    """The stored contract's status (None: no row, or a billing finding)."""
    workflow_status: str | None = None
    """`running`, `missing`, or how the workflow closed (`terminated`, `completed`…)."""
    workflow_state_status: ContractStatus | None = None
    """The status in the workflow's live `state`, when it was read."""
    violation: BillingViolation | None = None
    """For a billing finding: the kind of breach, its days and its money."""
    endpoint_id: str | None = None
    """For a delivery workflow finding: the webhook endpoint."""


class ReconcileReport(BaseModel):
    dry_run: bool
    workflows_compared: bool
    """False with `--billing-only`: Temporal was not asked."""
    namespace: str | None
    task_queue: str | None
    """Where repaired workflows are started (None: Temporal was not asked)."""
    contracts_in_database: int
    running_workflows: int | None
    checked: int
    """Contracts checked: every row, and every running workflow without one."""
    endpoints_checked: int = 0
    """Webhook endpoints whose delivery workflow was checked (and removed endpoints' workflows
    found running)."""
    findings: list[Finding]
    """The workflows' findings by kind and contract, then the billing findings by contract (in
    the order the contracts were recorded) and the customers' deposits."""
    notes: list[str]
    """What could not be checked, and why."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def repaired(self) -> int:
        return self._count(Outcome.REPAIRED)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def would_repair(self) -> int:
        return self._count(Outcome.WOULD_REPAIR)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def needs_attention(self) -> int:
        return self._count(Outcome.NEEDS_ATTENTION)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def billing_violations(self) -> int:
        """Breaches of R20 (each needs attention)."""
        return sum(1 for finding in self.findings if finding.kind is FindingKind.BILLING)

    def _count(self, outcome: Outcome) -> int:
        return sum(1 for finding in self.findings if finding.outcome is outcome)
