"""What every admin command's rule returns — a `Decision` or a `Rejection` — and the checks
several commands share (R10: an ended contract, a pending cancellation, change or price; a plan
of another location).

`billing.rules` (R5–R8, R14, R15) and `billing.adjustments` (R17, R18) decide with these; the
sentences are `billing.texts`'.
"""

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from billing import texts
from billing.contract import ChangeKind, Command, Contract, ContractStatus, InvoiceDraft, Plan
from billing.errors import BillingError
from billing.money import parse_amount


class RejectionCode(StrEnum):
    """Why a command was refused; `Rejection.code` holds one of these values."""

    CANCELLED = "cancelled"
    INACTIVE = "inactive"
    CONFLICT = "conflict"
    CUSTOM_PRICE = "custom_price"
    UNKNOWN_PLAN = "unknown_plan"
    OTHER_LOCATION = "other_location"
    SAME_PLAN = "same_plan"
    INVALID_PRICE = "invalid_price"
    INVALID_ID = "invalid_id"
    DATE_BEFORE_START = "date_before_start"
    DATE_BEFORE_BILLED_PERIOD = "date_before_billed_period"
    DATE_IN_PAST = "date_in_past"
    NOTHING_SCHEDULED = "nothing_scheduled"
    NOTHING_TO_UNDO = "nothing_to_undo"
    TOO_LATE = "too_late"
    NOT_CANCELLED = "not_cancelled"
    OVERLAP = "overlap"
    PRORATE_NOT_ALLOWED = "prorate_not_allowed"
    NOTICE = "notice"
    MINIMUM_TERM = "minimum_term"
    OVERRIDE_WITHOUT_REASON = "override_without_reason"
    FREEZE_LIMIT = "freeze_limit"
    NOT_FROZEN = "not_frozen"
    INVALID_CYCLES = "invalid_cycles"
    NOT_ON_PLAN = "not_on_plan"
    UNAFFECTED = "unaffected"
    """Nothing for this contract to do: a bulk job reports it as skipped, not refused."""
    ALREADY_APPLIED = "already_applied"
    """The contract has taken this bulk job's command already (SPEC §8)."""


class Decision(BaseModel):
    """An accepted command: the contract it produces and what will happen, in words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contract: Contract
    """The contract after the command (for `new_term`: the new, inactive contract)."""
    effect: str
    """One or two sentences for the audit log and the preview: what will happen, and when."""
    warnings: tuple[str, ...] = ()
    """Things the admin should know although the command is accepted."""
    requested: Command
    """Who asked and why (R11), to record with the effect."""
    invoice: InvoiceDraft | None = None
    """What the command bills at once, on the day it is received (an undone cut, R7)."""


class Rejection(BaseModel):
    """A refused command; nothing changes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    """A `RejectionCode` value, e.g. "custom_price" or "conflict"."""
    message: str
    """What is wrong, the values involved, and what to do instead."""


def reject(code: RejectionCode, message: str) -> Rejection:
    return Rejection(code=code.value, message=message)


# --- shared checks -------------------------------------------------------------------------------


def ended_on(contract: Contract, today: date) -> date | None:
    """The date a contract ended (the first day not served), or None while it is still live.

    A manual cancellation dated today or earlier has taken effect at 00:00 on its date (R3), even if
    the workflow has not recorded the end yet.
    """
    if contract.status is ContractStatus.CANCELLED:
        if contract.end is not None:
            return contract.end
        return contract.cancellation.date if contract.cancellation is not None else today
    if contract.cancellation is not None and contract.cancellation.date <= today:
        return contract.cancellation.date
    return None


def refuse_if_ended(contract: Contract, today: date, doing: str, advice: str) -> Rejection | None:
    ended = ended_on(contract, today)
    if ended is None:
        return None
    return reject(RejectionCode.CANCELLED, texts.ended(contract, ended, doing, advice))


def refuse_if_cancelling(contract: Contract, doing: str, advice: str = "") -> Rejection | None:
    """R10: a pending manual cancellation blocks other changes until it is undone — or, once a
    next term is lined up after it, for good: what follows is changed on that term."""
    if contract.cancellation is None:
        return None
    return reject(RejectionCode.CONFLICT, texts.cancelling(contract, doing, advice))


def refuse_if_not_started(contract: Contract, doing: str, advice: str) -> Rejection | None:
    """Changes on the next invoice date need a started contract."""
    if contract.status is not ContractStatus.INACTIVE:
        return None
    return reject(RejectionCode.INACTIVE, texts.not_started(contract, doing, advice))


ANY_CHANGE = frozenset(ChangeKind)


def refuse_change_pending(
    contract: Contract, doing: str, kinds: frozenset[ChangeKind] = ANY_CHANGE
) -> Rejection | None:
    """R10: a scheduled change (of `kinds`) blocks the command until it is cleared — or, once a
    next term is lined up after it, for good."""
    change = contract.scheduled_change
    if change is None or change.kind not in kinds:
        return None
    return reject(RejectionCode.CONFLICT, texts.change_pending(contract, doing))


def refuse_price_pending(contract: Contract, doing: str) -> Rejection | None:
    """R10: a scheduled price change blocks a change on the next invoice date until cleared."""
    if contract.scheduled_price is None:
        return None
    return reject(RejectionCode.CONFLICT, texts.price_pending(contract, doing))


def refuse_plan_elsewhere(contract: Contract, plan: Plan, doing: str) -> Rejection | None:
    """The plan must belong to the contract's location (and so bill in its currency)."""
    if plan.location_id != contract.location.id:
        return reject(RejectionCode.OTHER_LOCATION, texts.plan_elsewhere(contract, plan, doing))
    try:
        parse_amount(plan.price, contract.currency)
    except BillingError as error:
        return reject(
            RejectionCode.INVALID_PRICE, texts.plan_price_unbillable(contract, plan, doing, error)
        )
    return None
