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

from pydantic import ValidationError

from billing import effects, lifecycle, terms, texts
from billing.contract import (
    Cancellation,
    ChangeKind,
    Command,
    Contract,
    ContractStatus,
    Location,
    Plan,
    ScheduledChange,
    new_contract,
)
from billing.decisions import (
    Decision,
    Rejection,
    RejectionCode,
    ended_on,
    refuse_change_pending,
    refuse_if_cancelling,
    refuse_if_ended,
    refuse_if_not_started,
    refuse_plan_elsewhere,
    refuse_price_pending,
    reject,
)
from billing.effects import CANCEL_AT_NEXT_INVOICE_WARNING
from billing.errors import BillingError
from billing.money import parse_amount
from billing.periods import invoice_dates
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


def unknown_plan(code: str, *, location: Location, known: Iterable[str]) -> Rejection:
    """The rejection for a plan code that the location does not have."""
    return reject(
        RejectionCode.UNKNOWN_PLAN, texts.unknown_plan(code, location=location, known=known)
    )


# --- R5: automated change ------------------------------------------------------------------------


def precheck_schedule_change(
    contract: Contract, *, next_plan_code: str, today: date, price: Decimal | None = None
) -> Rejection | None:
    """The R5 checks that need no plan from the database (the workflow's update validator).

    With a `price` (R19) the next term starts at it, and a custom-priced contract may switch.
    """
    doing = texts.doing_switch(next_plan_code)
    refusal = (
        refuse_if_ended(contract, today, doing, texts.continue_hint(contract))
        or refuse_if_not_started(contract, doing, texts.change_future_contract(contract))
        or refuse_if_cancelling(
            contract, doing, texts.new_term_after_cancellation(contract, next_plan_code)
        )
        # A scheduled next plan is replaced; a scheduled cancellation must be cleared first.
        or refuse_change_pending(contract, doing, frozenset({ChangeKind.CANCEL_AT_NEXT_INVOICE}))
        or refuse_price_pending(contract, doing)
    )
    if refusal is not None:
        return refusal
    if price is not None:
        try:
            parse_amount(price, contract.currency)
        except BillingError as error:
            return reject(RejectionCode.INVALID_PRICE, texts.invalid_price(doing, price, error))
    change = contract.scheduled_change
    scheduled = change.next_plan if change is not None else None
    if next_plan_code == contract.plan.code:
        return reject(
            RejectionCode.SAME_PLAN, texts.same_plan(contract, doing, next_plan_code, scheduled)
        )
    if contract.custom_price and price is None:
        return reject(
            RejectionCode.CUSTOM_PRICE, texts.custom_price(contract, doing, next_plan_code)
        )
    return None


def schedule_change(
    contract: Contract,
    *,
    next_plan: Plan,
    requested: Command,
    today: date,
    price: Decimal | None = None,
) -> Decision | Rejection:
    """R5: switch to `next_plan` on the next invoice date, at that plan's price — or at `price`
    (R19), which lifts the block on custom prices.

    Replaces a next plan already scheduled; refused on custom prices without a price (use a
    manual change, or give the price) and while a cancellation is pending (R10).
    """
    doing = texts.doing_switch(next_plan.code)
    refusal = precheck_schedule_change(
        contract, next_plan_code=next_plan.code, today=today, price=price
    ) or refuse_plan_elsewhere(contract, next_plan, doing)
    if refusal is not None:
        return refusal
    if price is not None:
        price = parse_amount(price, contract.currency)
    change = contract.scheduled_change
    scheduled = change.next_plan if change is not None else None
    unchanged = change is not None and change.price == price
    if scheduled is not None and scheduled.code == next_plan.code and unchanged:
        return Decision(
            contract=contract,
            effect=effects.switch_unchanged(contract, next_plan.code),
            requested=requested,
        )
    updated = contract.model_copy(
        update={
            "scheduled_change": ScheduledChange(
                kind=ChangeKind.NEXT_PLAN, next_plan=next_plan, requested=requested, price=price
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
    contract: Contract, *, requested: Command, today: date, override_terms: bool = False
) -> Decision | Rejection:
    """R6: end the contract on its next invoice date; accepted with a warning (not recommended).

    Refused when the notice period (R14) or the commitment (R15) reaches past that date, unless
    `override_terms` (with a reason).
    """
    doing = texts.DOING_CANCEL_AT_NEXT_INVOICE
    refusal = (
        refuse_if_ended(contract, today, doing, texts.NOTHING_LEFT_TO_CANCEL)
        or refuse_if_not_started(contract, doing, texts.cancel_future_contract(contract))
        or refuse_if_cancelling(contract, doing)
        or refuse_change_pending(contract, doing, frozenset({ChangeKind.NEXT_PLAN}))
        or refuse_price_pending(contract, doing)
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
    assert contract.next_invoice_date is not None, "a started contract has a next invoice date"
    checked = _check_terms(
        contract,
        contract.next_invoice_date,
        today,
        doing,
        requested=requested,
        override_terms=override_terms,
        charge_remaining_term=False,
        at_next_invoice=True,
    )
    if isinstance(checked, Rejection):
        return checked
    updated = contract.model_copy(
        update={
            "scheduled_change": ScheduledChange(
                kind=ChangeKind.CANCEL_AT_NEXT_INVOICE, requested=requested
            )
        }
    )
    return Decision(
        contract=updated,
        effect=effects.cancel_at_next_invoice_effect(contract) + effects.overridden(checked),
        warnings=warnings,
        requested=requested,
    )


def clear_change(contract: Contract, *, requested: Command, today: date) -> Decision | Rejection:
    """Remove the scheduled change (a next plan or a cancel at next invoice date)."""
    doing = texts.DOING_CLEAR_CHANGE
    refusal = refuse_if_ended(contract, today, doing, texts.NOTHING_SCHEDULED_ANY_MORE)
    if refusal is not None:
        return refusal
    if contract.scheduled_change is not None and contract.successor_id is not None:
        return reject(RejectionCode.CONFLICT, texts.clear_change_successor(contract))
    if contract.scheduled_change is None and contract.scheduled_price is not None:
        return Decision(
            contract=contract.model_copy(update={"scheduled_price": None}),
            effect=effects.price_cleared(contract),
            requested=requested,
        )
    if contract.scheduled_change is None:
        return reject(RejectionCode.NOTHING_SCHEDULED, texts.nothing_scheduled(contract))
    return Decision(
        contract=contract.model_copy(update={"scheduled_change": None}),
        effect=effects.cleared(contract),
        requested=requested,
    )


# --- R7: manual cancellation ---------------------------------------------------------------------


def cancel(
    contract: Contract,
    *,
    date: date,
    prorate: bool,
    requested: Command,
    today: date,
    override_terms: bool = False,
    charge_remaining_term: bool = False,
    terms_apply: bool = True,
) -> Decision | Rejection:
    """R7: the contract ends at 00:00 on `date`, the first day not served.

    `date` may be in the past only within the period currently billed (a retroactive cancellation).
    It must respect the notice period (R14) and the commitment (R15), unless `override_terms`
    (with a reason); inside the commitment, `charge_remaining_term` accepts it and charges the
    committed days on `date`. A switch ends a contract without being a cancellation of it:
    `terms_apply=False`.
    """
    day = date
    doing = texts.doing_cancel(day)
    refusal = (
        refuse_if_ended(contract, today, doing, texts.NOTHING_LEFT_TO_CANCEL)
        or refuse_if_cancelling(contract, doing, texts.CANCEL_AGAIN)
        or refuse_change_pending(contract, doing)
        or _refuse_cancellation_date(contract, day, today, doing)
    )
    if refusal is not None:
        return refusal
    overridden: list[str] = []
    if terms_apply:
        checked = _check_terms(
            contract,
            day,
            today,
            doing,
            requested=requested,
            override_terms=override_terms,
            charge_remaining_term=charge_remaining_term,
            at_next_invoice=False,
        )
        if isinstance(checked, Rejection):
            return checked
        overridden = checked
    charged = (
        terms_apply
        and charge_remaining_term
        and contract.commitment_end is not None
        and day < contract.commitment_end
    )
    warnings: tuple[str, ...] = (effects.retroactive(day, today),) if day < today else ()
    if terms_apply and charge_remaining_term and not charged:
        warnings += (effects.nothing_committed(contract, day),)
    updated = contract.model_copy(
        update={
            "cancellation": Cancellation(
                date=day, prorate=prorate, requested=requested, charge_remaining_term=charged
            )
        }
    )
    return Decision(
        contract=updated,
        effect=effects.cancellation_effect(contract, updated) + effects.overridden(overridden),
        warnings=warnings,
        requested=requested,
    )


def _check_terms(
    contract: Contract,
    day: date,
    today: date,
    doing: str,
    *,
    requested: Command,
    override_terms: bool,
    charge_remaining_term: bool,
    at_next_invoice: bool,
) -> Rejection | list[str]:
    """R14 and R15 for a cancellation on `day` requested `today`: the refusal, or the terms an
    override passes (in words, for the audit log; empty when none is in the way)."""
    notice_from = terms.earliest_notice_date(contract.terms, today)
    commitment = contract.commitment_end
    in_notice = notice_from is not None and day < notice_from
    committed = commitment is not None and day < commitment
    if not (in_notice or committed):
        return []
    if override_terms:
        if not requested.reason.strip():
            return reject(
                RejectionCode.OVERRIDE_WITHOUT_REASON, texts.override_without_reason(doing)
            )
        passed = []
        if in_notice and notice_from is not None:
            passed.append(texts.notice_passed(contract, notice_from))
        if committed and commitment is not None and not charge_remaining_term:
            passed.append(texts.commitment_passed(commitment))
        return passed
    if in_notice and notice_from is not None:
        allowed = _first_invoice_date_from(contract, notice_from) if at_next_invoice else None
        return reject(
            RejectionCode.NOTICE,
            texts.notice(contract, doing, today=today, earliest=notice_from, invoice_date=allowed),
        )
    if committed and commitment is not None and not charge_remaining_term:
        allowed = _first_invoice_date_from(contract, commitment) if at_next_invoice else None
        return reject(
            RejectionCode.MINIMUM_TERM,
            texts.minimum_term(contract, doing, day=day, invoice_date=allowed),
        )
    return []


def _first_invoice_date_from(contract: Contract, day: date) -> date:
    """The contract's first invoice date on or after `day` (where a cancellation at an invoice
    date may fall)."""
    start = contract.next_invoice_date or contract.start
    for invoice_date in invoice_dates(start, anchor=contract.anchor, every=contract.plan.every):
        if invoice_date >= day:
            return invoice_date
    raise AssertionError("invoice dates never end")


def _refuse_cancellation_date(
    contract: Contract, day: date, today: date, doing: str
) -> Rejection | None:
    if day < contract.start:
        return reject(RejectionCode.DATE_BEFORE_START, texts.date_before_start(contract, doing))
    billed_from, billed_through = contract.billed_from, contract.billed_through
    is_active = contract.status is ContractStatus.ACTIVE
    if is_active and billed_from is not None and day < billed_from:
        return reject(
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
        return reject(RejectionCode.DATE_IN_PAST, texts.date_in_past(doing, today))
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
        ended = ended_on(contract, today)
        assert ended is not None
        return reject(RejectionCode.CANCELLED, texts.uncancel_ended(contract, ended))
    if cancellation is None:
        return reject(RejectionCode.NOTHING_TO_UNDO, texts.nothing_to_undo(contract))
    if cancellation.date <= today:
        return reject(
            RejectionCode.TOO_LATE, texts.uncancel_too_late(contract, cancellation, today)
        )
    if contract.successor_id is not None:
        return reject(RejectionCode.CONFLICT, texts.uncancel_successor(contract, cancellation))
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
        return reject(RejectionCode.CONFLICT, texts.second_successor(old, doing))
    refusal = refuse_change_pending(old, doing, frozenset({ChangeKind.NEXT_PLAN}))
    if refusal is not None:
        return refusal
    old_end = lifecycle.term_end(old)
    if old_end is None:
        return reject(RejectionCode.NOT_CANCELLED, texts.not_cancelled(old, doing))
    start = old_end if start is None else start
    if start < old_end:
        return reject(RejectionCode.OVERLAP, texts.overlap(old, doing, start, old_end))
    refusal = refuse_plan_elsewhere(old, plan, doing)
    if refusal is not None:
        return refusal
    if prorate_first_invoice and not plan.prorate_first_invoice:
        return reject(RejectionCode.PRORATE_NOT_ALLOWED, texts.prorate_not_allowed(plan, doing))
    if price is not None:
        try:
            price = parse_amount(price, old.currency)
        except BillingError as error:
            return reject(RejectionCode.INVALID_PRICE, texts.invalid_price(doing, price, error))
    if id == old.id:
        return reject(RejectionCode.INVALID_ID, texts.same_id(old, doing))
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
            inherited_commitment=old.commitment_end,
        )
    except ValidationError:
        return reject(RejectionCode.INVALID_ID, texts.invalid_id(doing, id))
    return Decision(
        contract=contract,
        effect=effects.new_term_effect(old, contract, deposit_held),
        warnings=effects.new_term_warnings(old, contract, old_end, today),
        requested=requested,
    )
