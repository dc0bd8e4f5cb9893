"""The admin commands (R5–R8, R10, R11) as pure rules over a `Contract`.

Each command returns a `Decision` (the contract after the command, a sentence for the audit log
and any warnings) or a `Rejection` (a code and a sentence that says what is wrong, the values
involved and what to do instead). Nothing here performs the change: the workflow applies the
decision, and the lifecycle (`billing.lifecycle`) acts on it when its date comes. `today` is the
location's local date when the command is received.

This module decides — what is allowed, the contract a command produces, what it bills at once.
The words are elsewhere: `billing.effects` says what a decision will do (its amounts read from
the invoice lines the lifecycle computes), `billing.texts` why a command is refused.
"""

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, ValidationError

from billing import effects, lifecycle, texts
from billing.contract import (
    Cancellation,
    ChangeKind,
    Command,
    Contract,
    ContractStatus,
    InvoiceDraft,
    Location,
    Plan,
    ScheduledChange,
    new_contract,
)
from billing.effects import CANCEL_AT_NEXT_INVOICE_WARNING
from billing.errors import BillingError
from billing.money import parse_amount
from billing.texts import pending_change_text

__all__ = [
    "CANCEL_AT_NEXT_INVOICE_WARNING",
    "Decision",
    "Rejection",
    "RejectionCode",
    "cancel",
    "cancel_at_next_invoice",
    "clear_change",
    "new_term",
    "pending_change_text",
    "precheck_schedule_change",
    "schedule_change",
    "uncancel",
    "unknown_plan",
]


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


def _reject(code: RejectionCode, message: str) -> Rejection:
    return Rejection(code=code.value, message=message)


# --- shared checks -------------------------------------------------------------------------------


def _ended_on(contract: Contract, today: date) -> date | None:
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


def _refuse_if_ended(contract: Contract, today: date, doing: str, advice: str) -> Rejection | None:
    ended = _ended_on(contract, today)
    if ended is None:
        return None
    return _reject(RejectionCode.CANCELLED, texts.ended(contract, ended, doing, advice))


def _refuse_if_cancelling(contract: Contract, doing: str, advice: str = "") -> Rejection | None:
    """R10: a pending manual cancellation blocks other changes until it is undone — or, once a
    next term is lined up after it, for good: what follows is changed on that term."""
    if contract.cancellation is None:
        return None
    return _reject(RejectionCode.CONFLICT, texts.cancelling(contract, doing, advice))


def _refuse_if_not_started(contract: Contract, doing: str, advice: str) -> Rejection | None:
    """Changes on the next invoice date need a started contract."""
    if contract.status is not ContractStatus.INACTIVE:
        return None
    return _reject(RejectionCode.INACTIVE, texts.not_started(contract, doing, advice))


_ANY_CHANGE = frozenset(ChangeKind)


def _refuse_change_pending(
    contract: Contract, doing: str, kinds: frozenset[ChangeKind] = _ANY_CHANGE
) -> Rejection | None:
    """R10: a scheduled change (of `kinds`) blocks the command until it is cleared — or, once a
    next term is lined up after it, for good."""
    change = contract.scheduled_change
    if change is None or change.kind not in kinds:
        return None
    return _reject(RejectionCode.CONFLICT, texts.change_pending(contract, doing))


def _refuse_plan_elsewhere(contract: Contract, plan: Plan, doing: str) -> Rejection | None:
    """The plan must belong to the contract's location (and so bill in its currency)."""
    if plan.location_id != contract.location.id:
        return _reject(RejectionCode.OTHER_LOCATION, texts.plan_elsewhere(contract, plan, doing))
    try:
        parse_amount(plan.price, contract.currency)
    except BillingError as error:
        return _reject(
            RejectionCode.INVALID_PRICE, texts.plan_price_unbillable(contract, plan, doing, error)
        )
    return None


def unknown_plan(code: str, *, location: Location, known: Iterable[str]) -> Rejection:
    """The rejection for a plan code that the location does not have."""
    return _reject(
        RejectionCode.UNKNOWN_PLAN, texts.unknown_plan(code, location=location, known=known)
    )


# --- R5: automated change ------------------------------------------------------------------------


def precheck_schedule_change(
    contract: Contract, *, next_plan_code: str, today: date
) -> Rejection | None:
    """The R5 checks that need no plan from the database (the workflow's update validator)."""
    doing = texts.doing_switch(next_plan_code)
    refusal = (
        _refuse_if_ended(contract, today, doing, texts.continue_hint(contract))
        or _refuse_if_not_started(contract, doing, texts.change_future_contract(contract))
        or _refuse_if_cancelling(
            contract, doing, texts.new_term_after_cancellation(contract, next_plan_code)
        )
        # A scheduled next plan is replaced; a scheduled cancellation must be cleared first.
        or _refuse_change_pending(contract, doing, frozenset({ChangeKind.CANCEL_AT_NEXT_INVOICE}))
    )
    if refusal is not None:
        return refusal
    change = contract.scheduled_change
    scheduled = change.next_plan if change is not None else None
    if next_plan_code == contract.plan.code:
        return _reject(
            RejectionCode.SAME_PLAN, texts.same_plan(contract, doing, next_plan_code, scheduled)
        )
    if contract.custom_price:
        return _reject(
            RejectionCode.CUSTOM_PRICE, texts.custom_price(contract, doing, next_plan_code)
        )
    return None


def schedule_change(
    contract: Contract, *, next_plan: Plan, requested: Command, today: date
) -> Decision | Rejection:
    """R5: switch to `next_plan` on the next invoice date, at that plan's price.

    Replaces a next plan already scheduled; refused on custom prices (use a manual change) and while
    a cancellation is pending (R10).
    """
    doing = texts.doing_switch(next_plan.code)
    refusal = precheck_schedule_change(
        contract, next_plan_code=next_plan.code, today=today
    ) or _refuse_plan_elsewhere(contract, next_plan, doing)
    if refusal is not None:
        return refusal
    change = contract.scheduled_change
    scheduled = change.next_plan if change is not None else None
    if scheduled is not None and scheduled.code == next_plan.code:
        return Decision(
            contract=contract,
            effect=effects.switch_unchanged(contract, next_plan.code),
            requested=requested,
        )
    updated = contract.model_copy(
        update={
            "scheduled_change": ScheduledChange(
                kind=ChangeKind.NEXT_PLAN, next_plan=next_plan, requested=requested
            )
        }
    )
    return Decision(
        contract=updated,
        effect=effects.switch_effect(contract, updated, scheduled),
        requested=requested,
    )


# --- R6: cancel at next invoice date -------------------------------------------------------------


def cancel_at_next_invoice(
    contract: Contract, *, requested: Command, today: date
) -> Decision | Rejection:
    """R6: end the contract on its next invoice date; accepted with a warning (not recommended)."""
    doing = texts.DOING_CANCEL_AT_NEXT_INVOICE
    refusal = (
        _refuse_if_ended(contract, today, doing, texts.NOTHING_LEFT_TO_CANCEL)
        or _refuse_if_not_started(contract, doing, texts.cancel_future_contract(contract))
        or _refuse_if_cancelling(contract, doing)
        or _refuse_change_pending(contract, doing, frozenset({ChangeKind.NEXT_PLAN}))
    )
    if refusal is not None:
        return refusal
    warnings = (CANCEL_AT_NEXT_INVOICE_WARNING,)
    if contract.scheduled_change is not None:
        return Decision(
            contract=contract,
            effect=effects.cancel_at_next_invoice_unchanged(contract),
            warnings=warnings,
            requested=requested,
        )
    updated = contract.model_copy(
        update={
            "scheduled_change": ScheduledChange(
                kind=ChangeKind.CANCEL_AT_NEXT_INVOICE, requested=requested
            )
        }
    )
    return Decision(
        contract=updated,
        effect=effects.cancel_at_next_invoice_effect(contract),
        warnings=warnings,
        requested=requested,
    )


def clear_change(contract: Contract, *, requested: Command, today: date) -> Decision | Rejection:
    """Remove the scheduled change (a next plan or a cancel at next invoice date)."""
    doing = texts.DOING_CLEAR_CHANGE
    refusal = _refuse_if_ended(contract, today, doing, texts.NOTHING_SCHEDULED_ANY_MORE)
    if refusal is not None:
        return refusal
    if contract.scheduled_change is not None and contract.successor_id is not None:
        return _reject(RejectionCode.CONFLICT, texts.clear_change_successor(contract))
    if contract.scheduled_change is None:
        return _reject(RejectionCode.NOTHING_SCHEDULED, texts.nothing_scheduled(contract))
    return Decision(
        contract=contract.model_copy(update={"scheduled_change": None}),
        effect=effects.cleared(contract),
        requested=requested,
    )


# --- R7: manual cancellation ---------------------------------------------------------------------


def cancel(
    contract: Contract, *, date: date, prorate: bool, requested: Command, today: date
) -> Decision | Rejection:
    """R7: the contract ends at 00:00 on `date`, the first day not served.

    `date` may be in the past only within the period currently billed (a retroactive cancellation).
    """
    day = date
    doing = texts.doing_cancel(day)
    refusal = (
        _refuse_if_ended(contract, today, doing, texts.NOTHING_LEFT_TO_CANCEL)
        or _refuse_if_cancelling(contract, doing, texts.CANCEL_AGAIN)
        or _refuse_change_pending(contract, doing)
        or _refuse_cancellation_date(contract, day, today, doing)
    )
    if refusal is not None:
        return refusal
    warnings = (effects.retroactive(day, today),) if day < today else ()
    updated = contract.model_copy(
        update={"cancellation": Cancellation(date=day, prorate=prorate, requested=requested)}
    )
    return Decision(
        contract=updated,
        effect=effects.cancellation_effect(contract, updated),
        warnings=warnings,
        requested=requested,
    )


def _refuse_cancellation_date(
    contract: Contract, day: date, today: date, doing: str
) -> Rejection | None:
    if day < contract.start:
        return _reject(RejectionCode.DATE_BEFORE_START, texts.date_before_start(contract, doing))
    billed_from, billed_through = contract.billed_from, contract.billed_through
    is_active = contract.status is ContractStatus.ACTIVE
    if is_active and billed_from is not None and day < billed_from:
        return _reject(
            RejectionCode.DATE_BEFORE_BILLED_PERIOD,
            texts.date_before_billed_period(contract, doing),
        )
    in_billed_period = (
        is_active
        and billed_from is not None
        and billed_through is not None
        and billed_from <= day < billed_through
    )
    if day < today and not in_billed_period:
        return _reject(RejectionCode.DATE_IN_PAST, texts.date_in_past(doing, today))
    return None


def uncancel(
    contract: Contract, *, requested: Command, today: date, bill_cut_days: bool = True
) -> Decision | Rejection:
    """Undo a pending manual cancellation while its date is still ahead (R7).

    When the last invoice was already cut at the cancellation date with proration, the days cut
    off are invoiced today (`Decision.invoice`); `bill_cut_days=False` is the rule before that
    (kept for workflows that undid a cancellation then).
    """
    cancellation = contract.cancellation
    if contract.status is ContractStatus.CANCELLED:
        ended = _ended_on(contract, today)
        assert ended is not None
        return _reject(RejectionCode.CANCELLED, texts.uncancel_ended(contract, ended))
    if cancellation is None:
        return _reject(RejectionCode.NOTHING_TO_UNDO, texts.nothing_to_undo(contract))
    if cancellation.date <= today:
        return _reject(
            RejectionCode.TOO_LATE, texts.uncancel_too_late(contract, cancellation, today)
        )
    if contract.successor_id is not None:
        return _reject(RejectionCode.CONFLICT, texts.uncancel_successor(contract, cancellation))
    if not bill_cut_days:
        return Decision(
            contract=contract.model_copy(update={"cancellation": None}),
            effect=effects.uncancelled(contract, cancellation, None),
            requested=requested,
        )
    undone = lifecycle.undo_cancellation(contract, today)
    return Decision(
        contract=undone.contract,
        effect=effects.uncancelled(contract, cancellation, undone.invoice),
        requested=requested,
        invoice=undone.invoice,
    )


# --- R8: new term --------------------------------------------------------------------------------


def new_term(
    old: Contract,
    *,
    id: str,
    plan: Plan,
    start: date | None,
    price: Decimal | None,
    anchor: date | None,
    prorate_first_invoice: bool,
    requested: Command,
    today: date,
    deposit_held: Decimal | None = None,
) -> Decision | Rejection:
    """R8, R13: a new `inactive` contract that replaces `old`, for the same customer.

    `old` is cancelled, with no next term yet: before its cancellation date, on it, or any time
    after it ended (a member who returns). Defaults: start = the old contract's end (its
    cancellation date), anchor = the old anchor (the billing day is kept), price = the plan's.
    `plan` is chosen by the caller (default: old.plan). `deposit_held` is what an ended `old`
    still holds (None while it runs: it passes its deposit on when it ends). The decision's
    contract is the new one; the caller records it as `old.successor_id`.
    """
    doing = texts.doing_new_term(old)
    if old.successor_id is not None:
        return _reject(RejectionCode.CONFLICT, texts.second_successor(old, doing))
    refusal = _refuse_change_pending(old, doing, frozenset({ChangeKind.NEXT_PLAN}))
    if refusal is not None:
        return refusal
    old_end = lifecycle.term_end(old)
    if old_end is None:
        return _reject(RejectionCode.NOT_CANCELLED, texts.not_cancelled(old, doing))
    start = old_end if start is None else start
    if start < old_end:
        return _reject(RejectionCode.OVERLAP, texts.overlap(old, doing, start, old_end))
    refusal = _refuse_plan_elsewhere(old, plan, doing)
    if refusal is not None:
        return refusal
    if prorate_first_invoice and not plan.prorate_first_invoice:
        return _reject(RejectionCode.PRORATE_NOT_ALLOWED, texts.prorate_not_allowed(plan, doing))
    if price is not None:
        try:
            price = parse_amount(price, old.currency)
        except BillingError as error:
            return _reject(RejectionCode.INVALID_PRICE, texts.invalid_price(doing, price, error))
    if id == old.id:
        return _reject(RejectionCode.INVALID_ID, texts.same_id(old, doing))
    try:
        contract = new_contract(
            id=id,
            customer_id=old.customer_id,
            location=old.location,
            plan=plan,
            start=start,
            price=price,
            anchor=old.anchor if anchor is None else anchor,
            prorate_first_invoice=prorate_first_invoice,
            replaces=old.id,
        )
    except ValidationError:
        return _reject(RejectionCode.INVALID_ID, texts.invalid_id(doing, id))
    return Decision(
        contract=contract,
        effect=effects.new_term_effect(old, contract, deposit_held),
        warnings=effects.new_term_warnings(old, contract, old_end, today),
        requested=requested,
    )
