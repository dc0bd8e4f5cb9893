"""What a contract workflow asks its activities to write, and what they answer.

These are wire models, beside the workflow's own messages (`workflows.messages`): they are in
histories for as long as a contract runs, so they are decoded tolerantly (see `billing.contract`).
The activities that take them are named in `ACTIVITIES`; the workflow calls them by these names.
"""

from datetime import date

from pydantic import BaseModel

from billing.contract import Command, Contract, InvoiceDraft
from billing.lifecycle import Step
from store.records import IssuedInvoice

REGISTER_CONTRACT = "register_contract"
RECORD_STEP = "record_step"
RECORD_DAY = "record_day"
RECORD_NEW_TERM = "record_new_term"
LOAD_PLAN = "load_plan"
RECORD_COMMAND = "record_command"
ACTIVITIES = (
    REGISTER_CONTRACT,
    RECORD_STEP,
    RECORD_DAY,
    RECORD_NEW_TERM,
    LOAD_PLAN,
    RECORD_COMMAND,
)
"""The activity types a contract workflow calls (`activities.ContractActivities` defines each)."""


class RegisterContract(BaseModel):
    contract: Contract
    requested: Command
    key: str
    """Idempotency key of the audit entry (the workflow id)."""
    today: date | None = None
    """The contract's local date in workflow time, the business date of `contract.created`
    (absent from requests of earlier workflows: the day the activity was scheduled)."""


class RecordStep(BaseModel):
    step: Step
    key: str
    """Idempotency key of the audit entry (workflow id and the step's date)."""


class RecordCommand(BaseModel):
    """An admin command's outcome: the contract after it (None if refused) and the audit entry."""

    contract: Contract | None
    contract_id: str
    command: str
    requested: Command
    effect: str
    key: str
    invoice: InvoiceDraft | None = None
    """What the command bills at once (an undone cut, R7), issued in the same transaction."""


class DayRecorded(BaseModel):
    """What `record_day` wrote: the invoice (if any) and the successor (if a switch started one)."""

    invoice: IssuedInvoice | None
    successor: Contract | None


class RecordNewTerm(BaseModel):
    """A new term (R8) and the contract it continues, linked, in one transaction."""

    old: Contract
    successor: Contract
    command: str
    requested: Command
    effect: str
    key: str
