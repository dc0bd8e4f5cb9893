"""The admin commands (R5–R8, R10, R11) as pure rules over a `Contract`.

Each command returns a `Decision` (the contract after the command, a sentence for the audit log
and any warnings) or a `Rejection` (a code and a sentence that says what is wrong, the values
involved and what to do instead). Nothing here performs the change: the workflow applies the
decision, and the lifecycle (`billing.lifecycle`) acts on it when its date comes. `today` is the
location's local date when the command is received.
"""

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, ValidationError

from billing import deposits, lifecycle
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
from billing.errors import BillingError
from billing.money import format_money, parse_amount
from billing.periods import is_boundary, period_containing
from billing.proration import prorate as prorate_span

_DAY = timedelta(days=1)

CANCEL_AT_NEXT_INVOICE_WARNING = (
    "Cancelling at the next invoice date is not the recommended way to cancel: use "
    "`contracts cancel --date` to choose the cancellation date and whether the last invoice "
    "is prorated."
)


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


def _money(amount: Decimal, contract: Contract) -> str:
    return format_money(amount, contract.currency)


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
    return _reject(
        RejectionCode.CANCELLED,
        f"Cannot {doing}: contract {contract.id} is cancelled; it ended on {ended}. {advice}",
    )


def _cancellation_text(cancellation: Cancellation) -> str:
    how = "prorated" if cancellation.prorate else "not prorated"
    return (
        f"manual cancellation on {cancellation.date} ({how}, requested by "
        f"{cancellation.requested.actor})"
    )


def _refuse_if_cancelling(contract: Contract, doing: str, advice: str = "") -> Rejection | None:
    """R10: a pending manual cancellation blocks other changes until `contracts uncancel` —
    or, once a next term is lined up after it, for good: what follows is changed on that term."""
    cancellation = contract.cancellation
    if cancellation is None:
        return None
    pending = f"Cannot {doing}: contract {contract.id} already has a "
    if contract.successor_id is not None:
        return _reject(
            RejectionCode.CONFLICT,
            f"{pending}{_cancellation_text(cancellation)}, and contract {contract.successor_id} "
            f"is lined up as its next term. {_change_next_term(contract, cancellation.date)}",
        )
    return _reject(
        RejectionCode.CONFLICT,
        f"{pending}{_cancellation_text(cancellation)}. Undo it first with `contracts uncancel "
        f"{contract.id}`{advice}.",
    )


def _change_next_term(contract: Contract, day: date | None) -> str:
    """How to change what follows a contract whose next term is lined up (the two stay linked)."""
    return (
        "The two stay linked: change the next term instead, e.g. switch it to another plan from "
        f"its start with `contracts switch {contract.successor_id} --to PLAN --on {day}`."
    )


_CHANGE_FUTURE_CONTRACT = (
    "Change the plan of the future contract instead: cancel it on its start date with "
    "`contracts cancel {id} --date {start}` and create a new term on the plan you want with "
    "`contracts new-term --from {id} --plan PLAN`, or schedule the change once it has started."
)


def _continue_hint(contract: Contract) -> str:
    """What continues an ended (or ending) contract: a new term (R13), or the one it has."""
    if contract.successor_id is not None:
        return (
            f"Its next term is contract {contract.successor_id}: see "
            f"`contracts show {contract.successor_id}`."
        )
    return f"Continue it with a new term instead: `contracts new-term --from {contract.id}`."


def _refuse_if_not_started(contract: Contract, doing: str, advice: str) -> Rejection | None:
    """Changes on the next invoice date need a started contract; `advice` may name `{start}` and
    `{id}`."""
    if contract.status is not ContractStatus.INACTIVE:
        return None
    return _reject(
        RejectionCode.INACTIVE,
        f"Cannot {doing}: contract {contract.id} has not started yet (it starts on "
        f"{contract.start}), so it has no next invoice date. "
        + advice.format(start=contract.start, id=contract.id),
    )


def pending_change_text(contract: Contract) -> str | None:
    """The scheduled change in words, or None: "switch to plan OFFICE scheduled for its next
    invoice date, 2027-04-01" or "cancellation scheduled for its next invoice date, …"."""
    change = contract.scheduled_change
    if change is None:
        return None
    when = f"scheduled for its next invoice date, {contract.next_invoice_date}"
    if change.kind is ChangeKind.NEXT_PLAN and change.next_plan is not None:
        return f"switch to plan {change.next_plan.code} {when}"
    return f"cancellation {when}"


_ANY_CHANGE = frozenset(ChangeKind)


def _refuse_change_pending(
    contract: Contract, doing: str, kinds: frozenset[ChangeKind] = _ANY_CHANGE
) -> Rejection | None:
    """R10: a scheduled change (of `kinds`) blocks the command until `contracts clear-change` —
    or, once a next term is lined up after it, for good."""
    change, pending = contract.scheduled_change, pending_change_text(contract)
    if change is None or pending is None or change.kind not in kinds:
        return None
    if contract.successor_id is not None:
        return _reject(
            RejectionCode.CONFLICT,
            f"Cannot {doing}: contract {contract.id} already has a {pending}, and contract "
            f"{contract.successor_id} is lined up as its next term. "
            f"{_change_next_term(contract, contract.next_invoice_date)}",
        )
    return _reject(
        RejectionCode.CONFLICT,
        f"Cannot {doing}: contract {contract.id} already has a {pending}. "
        f"Undo it first with `contracts clear-change {contract.id}`.",
    )


def _refuse_plan_elsewhere(contract: Contract, plan: Plan, doing: str) -> Rejection | None:
    """The plan must belong to the contract's location (and so bill in its currency)."""
    location = contract.location
    if plan.location_id != location.id:
        return _reject(
            RejectionCode.OTHER_LOCATION,
            f"Cannot {doing}: plan {plan.code} belongs to location {plan.location_id}, but "
            f"contract {contract.id} is at {location.id} ({location.currency}). Choose a plan of "
            f"{location.id}.",
        )
    try:
        parse_amount(plan.price, location.currency)
    except BillingError as error:
        return _reject(
            RejectionCode.INVALID_PRICE,
            f"Cannot {doing}: plan {plan.code} has a price that {location.currency} cannot bill. "
            f"{error} Correct the plan's price first.",
        )
    return None


def unknown_plan(code: str, *, location: Location, known: Iterable[str]) -> Rejection:
    """The rejection for a plan code that the location does not have."""
    choices = ", ".join(sorted(known)) or "none yet"
    return _reject(
        RejectionCode.UNKNOWN_PLAN,
        f"There is no plan {code!r} at location {location.id}: choose one of its plans "
        f"({choices}).",
    )


# --- R5: automated change ------------------------------------------------------------------------


def precheck_schedule_change(
    contract: Contract, *, next_plan_code: str, today: date
) -> Rejection | None:
    """The R5 checks that need no plan from the database (the workflow's update validator)."""
    doing = f"schedule a switch to plan {next_plan_code}"
    refusal = (
        _refuse_if_ended(contract, today, doing, _continue_hint(contract))
        or _refuse_if_not_started(contract, doing, _CHANGE_FUTURE_CONTRACT)
        or _refuse_if_cancelling(
            contract,
            doing,
            ", or start a new term after the cancellation with "
            f"`contracts new-term --from {contract.id} --plan {next_plan_code}`",
        )
        # A scheduled next plan is replaced; a scheduled cancellation must be cleared first.
        or _refuse_change_pending(contract, doing, frozenset({ChangeKind.CANCEL_AT_NEXT_INVOICE}))
    )
    if refusal is not None:
        return refusal
    change = contract.scheduled_change
    scheduled = change.next_plan if change is not None else None
    if next_plan_code == contract.plan.code:
        undo = (
            f" To keep plan {next_plan_code}, clear the scheduled switch to {scheduled.code} "
            f"with `contracts clear-change {contract.id}`."
            if scheduled is not None
            else ""
        )
        return _reject(
            RejectionCode.SAME_PLAN,
            f"Cannot {doing}: contract {contract.id} is already on plan {next_plan_code}. "
            f"Choose a different plan.{undo}",
        )
    if contract.custom_price:
        return _reject(
            RejectionCode.CUSTOM_PRICE,
            f"Cannot {doing}: contract {contract.id} has a custom price of "
            f"{_money(contract.price, contract)}, while plan {contract.plan.code}'s price is "
            f"{_money(contract.plan.price, contract)}, and automated plan changes are not allowed "
            "on custom prices. Use a manual change instead: cancel the contract with "
            f"`contracts cancel {contract.id} --date DATE` and create a new term with "
            f"`contracts new-term --from {contract.id} --plan {next_plan_code}`, or do both at "
            f"once with `contracts switch {contract.id} --to {next_plan_code} --on DATE`.",
        )
    return None


def schedule_change(
    contract: Contract, *, next_plan: Plan, requested: Command, today: date
) -> Decision | Rejection:
    """R5: switch to `next_plan` on the next invoice date, at that plan's price.

    Replaces a next plan already scheduled; refused on custom prices (use a manual change) and while
    a cancellation is pending (R10).
    """
    doing = f"schedule a switch to plan {next_plan.code}"
    refusal = precheck_schedule_change(
        contract, next_plan_code=next_plan.code, today=today
    ) or _refuse_plan_elsewhere(contract, next_plan, doing)
    if refusal is not None:
        return refusal
    change = contract.scheduled_change
    scheduled = change.next_plan if change is not None else None
    day = contract.next_invoice_date
    if scheduled is not None and scheduled.code == next_plan.code:
        return Decision(
            contract=contract,
            effect=f"Contract {contract.id} already switches to plan {next_plan.code} on {day}; "
            "nothing changes.",
            requested=requested,
        )
    effect = (
        f"Contract {contract.id} switches from plan {contract.plan.code} to plan {next_plan.code} "
        f"on its next invoice date, {day}: a new contract at {_money(next_plan.price, contract)} "
        "starts that day and is invoiced for its full first period."
    )
    if scheduled is not None:
        effect += f" This replaces the scheduled switch to plan {scheduled.code}."
    updated = contract.model_copy(
        update={
            "scheduled_change": ScheduledChange(
                kind=ChangeKind.NEXT_PLAN, next_plan=next_plan, requested=requested
            )
        }
    )
    return Decision(contract=updated, effect=effect, requested=requested)


# --- R6: cancel at next invoice date -------------------------------------------------------------


def cancel_at_next_invoice(
    contract: Contract, *, requested: Command, today: date
) -> Decision | Rejection:
    """R6: end the contract on its next invoice date; accepted with a warning (not recommended)."""
    doing = "cancel at the next invoice date"
    refusal = (
        _refuse_if_ended(contract, today, doing, "There is nothing left to cancel.")
        or _refuse_if_not_started(
            contract,
            doing,
            "Cancel the future contract with `contracts cancel {id} --date {start}` instead; "
            "it then never starts.",
        )
        or _refuse_if_cancelling(contract, doing)
        or _refuse_change_pending(contract, doing, frozenset({ChangeKind.NEXT_PLAN}))
    )
    if refusal is not None:
        return refusal
    change = contract.scheduled_change
    day = contract.next_invoice_date
    warnings = (CANCEL_AT_NEXT_INVOICE_WARNING,)
    if change is not None:
        return Decision(
            contract=contract,
            effect=f"Contract {contract.id} is already set to cancel on its next invoice date, "
            f"{day}; nothing changes.",
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
        effect=f"Contract {contract.id} is cancelled on its next invoice date, {day}: the period "
        f"up to {day} stays billed as it is, and no invoice is issued for the following period.",
        warnings=warnings,
        requested=requested,
    )


def clear_change(contract: Contract, *, requested: Command, today: date) -> Decision | Rejection:
    """Remove the scheduled change (a next plan or a cancel at next invoice date)."""
    doing = "clear the scheduled change"
    refusal = _refuse_if_ended(contract, today, doing, "Nothing is scheduled on it any more.")
    if refusal is not None:
        return refusal
    pending = pending_change_text(contract)
    if pending is not None and contract.successor_id is not None:
        return _reject(
            RejectionCode.CONFLICT,
            f"Cannot clear the {pending} on contract {contract.id}: contract "
            f"{contract.successor_id} is lined up as its next term from "
            f"{contract.next_invoice_date}. "
            f"{_change_next_term(contract, contract.next_invoice_date)}",
        )
    if pending is None:
        hint = (
            f" Its {_cancellation_text(contract.cancellation)} is undone with "
            f"`contracts uncancel {contract.id}`."
            if contract.cancellation is not None and contract.successor_id is None
            else ""
        )
        return _reject(
            RejectionCode.NOTHING_SCHEDULED,
            f"Contract {contract.id} has no scheduled change to clear.{hint}",
        )
    return Decision(
        contract=contract.model_copy(update={"scheduled_change": None}),
        effect=f"Cleared the {pending} on contract {contract.id}: it is invoiced as usual on "
        f"{contract.next_invoice_date}.",
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
    doing = f"cancel on {day}"
    refusal = (
        _refuse_if_ended(contract, today, doing, "There is nothing left to cancel.")
        or _refuse_if_cancelling(contract, doing, ", then cancel again with the new date")
        or _refuse_change_pending(contract, doing)
        or _refuse_cancellation_date(contract, day, today, doing)
    )
    if refusal is not None:
        return refusal
    warnings: tuple[str, ...] = ()
    if day < today:
        warnings = (
            f"The cancellation is retroactive: {day} is before today, {today}, so the contract "
            "ends at once.",
        )
    updated = contract.model_copy(
        update={"cancellation": Cancellation(date=day, prorate=prorate, requested=requested)}
    )
    return Decision(
        contract=updated,
        effect=_cancellation_effect(contract, day, prorate),
        warnings=warnings,
        requested=requested,
    )


def _refuse_cancellation_date(
    contract: Contract, day: date, today: date, doing: str
) -> Rejection | None:
    if day < contract.start:
        return _reject(
            RejectionCode.DATE_BEFORE_START,
            f"Cannot {doing}: that is before the contract starts, on {contract.start}. Choose "
            f"{contract.start} or later (cancelling on {contract.start} means it never starts).",
        )
    billed_from, billed_through = contract.billed_from, contract.billed_through
    is_active = contract.status is ContractStatus.ACTIVE
    if is_active and billed_from is not None and day < billed_from:
        return _reject(
            RejectionCode.DATE_BEFORE_BILLED_PERIOD,
            f"Cannot {doing}: that is before the period currently billed, {billed_from} to "
            f"{billed_through}, and a cancellation cannot reach back before it. Choose "
            f"{billed_from} or later.",
        )
    in_billed_period = (
        is_active
        and billed_from is not None
        and billed_through is not None
        and billed_from <= day < billed_through
    )
    if day < today and not in_billed_period:
        return _reject(
            RejectionCode.DATE_IN_PAST,
            f"Cannot {doing}: that date is past and outside the period currently billed. Choose "
            f"{today} or later.",
        )
    return None


def _cancellation_effect(contract: Contract, day: date, prorate: bool) -> str:
    """What a manual cancellation on `day` will do, with the amounts where they are known (R7)."""
    ends = f"Contract {contract.id} ends at 00:00 on {day}, the first day not served"
    anchor, every = contract.anchor, contract.plan.every
    if contract.status is ContractStatus.INACTIVE:
        if day == contract.start:
            return f"{ends}: it never starts, and nothing is invoiced."
        last = max(contract.start, period_containing(day - _DAY, anchor=anchor, every=every)[0])
        if last == contract.start and not is_boundary(last, anchor=anchor, every=every):
            how = "prorated" if prorate else "not prorated"
            return (
                f"{ends}. Its only invoice, on {last}, covers {last} to {day} ({how} for the "
                "cancellation)."
            )
        return (
            f"{ends}. It starts on {contract.start} as planned; "
            f"{_last_invoice_text(contract, last, day, prorate)}"
        )
    next_invoice = contract.next_invoice_date
    billed_through = contract.billed_through or next_invoice
    if next_invoice is None or billed_through is None:
        return f"{ends}."
    if day < next_invoice:
        if not prorate:
            return (
                f"{ends}. The period up to {next_invoice} is already billed; nothing is credited."
            )
        period_start, period_end = period_containing(
            contract.billed_from or day, anchor=anchor, every=every
        )
        credit = prorate_span(
            contract.price,
            period_start=period_start,
            period_end=period_end,
            start=day,
            end=billed_through,
            currency=contract.currency,
        )
        days, period_days = (billed_through - day).days, (period_end - period_start).days
        return (
            f"{ends}. A proration credit of {_money(credit, contract)} for {day} to "
            f"{billed_through} ({days} of {period_days} days) will be issued on {day}."
        )
    if day == next_invoice:
        return f"{ends}, its next invoice date: no further invoice is issued, nothing is credited."
    last = period_containing(day - _DAY, anchor=anchor, every=every)[0]
    return f"{ends}. Invoicing continues; {_last_invoice_text(contract, last, day, prorate)}"


def _last_invoice_text(contract: Contract, last: date, day: date, prorate: bool) -> str:
    """The last invoice, on `last` (a period boundary), covers `[last, day)`."""
    period_start, period_end = period_containing(
        last, anchor=contract.anchor, every=contract.plan.every
    )
    covers = f"the last invoice, on {last}, covers {last} to {day}"
    if day == period_end:
        return f"{covers}, a full period: {_money(contract.price, contract)}."
    if not prorate:
        return f"{covers} at the full price, not prorated: {_money(contract.price, contract)}."
    amount = prorate_span(
        contract.price,
        period_start=period_start,
        period_end=period_end,
        start=last,
        end=day,
        currency=contract.currency,
    )
    days, period_days = (day - last).days, (period_end - period_start).days
    return f"{covers}, prorated ({days} of {period_days} days): {_money(amount, contract)}."


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
        return _reject(
            RejectionCode.CANCELLED,
            f"Cannot undo the cancellation: contract {contract.id} ended on "
            f"{contract.end or (cancellation.date if cancellation else today)}. "
            f"{_continue_hint(contract)}",
        )
    if cancellation is None:
        hint = (
            " Its cancellation at the next invoice date is undone with "
            f"`contracts clear-change {contract.id}`."
            if contract.scheduled_change is not None
            and contract.scheduled_change.kind is ChangeKind.CANCEL_AT_NEXT_INVOICE
            and contract.successor_id is None
            else ""
        )
        return _reject(
            RejectionCode.NOTHING_TO_UNDO,
            f"Contract {contract.id} has no pending manual cancellation to undo.{hint}",
        )
    if cancellation.date <= today:
        return _reject(
            RejectionCode.TOO_LATE,
            f"Cannot undo the cancellation: contract {contract.id} ended at 00:00 on "
            f"{cancellation.date} (today is {today}). {_continue_hint(contract)}",
        )
    if contract.successor_id is not None:
        return _reject(
            RejectionCode.CONFLICT,
            f"Cannot undo the cancellation on {cancellation.date}: contract "
            f"{contract.successor_id} is lined up as the next term of contract {contract.id}. "
            f"{_change_next_term(contract, cancellation.date)}",
        )
    resumes = (
        f"starts on {contract.start}"
        if contract.status is ContractStatus.INACTIVE
        else f"is invoiced as usual on {contract.next_invoice_date}"
    )
    effect = (
        f"Undid the {_cancellation_text(cancellation)}: contract {contract.id} continues and "
        f"{resumes}."
    )
    if not bill_cut_days:
        return Decision(
            contract=contract.model_copy(update={"cancellation": None}),
            effect=effect,
            requested=requested,
        )
    undone = lifecycle.undo_cancellation(contract, today)
    if undone.invoice is not None:
        line = undone.invoice.lines[0]
        cut_at = line.period_start
        effect += (
            f" Its last invoice was cut at {cut_at} with proration, so {cut_at} to "
            f"{line.period_end} is invoiced today, {today}: {_money(line.amount, contract)}."
        )
    return Decision(
        contract=undone.contract, effect=effect, requested=requested, invoice=undone.invoice
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
    doing = f"create a new term after contract {old.id}"
    if old.successor_id is not None:
        return _reject(
            RejectionCode.CONFLICT,
            f"Cannot {doing}: it already has a next term, contract {old.successor_id}. Change or "
            f"cancel contract {old.successor_id} instead.",
        )
    refusal = _refuse_change_pending(old, doing, frozenset({ChangeKind.NEXT_PLAN}))
    if refusal is not None:
        return refusal
    old_end = lifecycle.term_end(old)
    if old_end is None:
        return _reject(
            RejectionCode.NOT_CANCELLED,
            f"Cannot {doing}: contract {old.id} is not cancelled, so the new term would overlap "
            f"it. Cancel it first with `contracts cancel {old.id} --date DATE`, or cancel it and "
            f"create the new term at once with `contracts switch {old.id} --to PLAN --on DATE`.",
        )
    start = old_end if start is None else start
    if start < old_end:
        return _reject(
            RejectionCode.OVERLAP,
            f"Cannot {doing} starting on {start}: contract {old.id} runs until {old_end} (its "
            f"cancellation date, the first day not served), so the terms would overlap. Start "
            f"the new term on {old_end} or later.",
        )
    refusal = _refuse_plan_elsewhere(old, plan, doing)
    if refusal is not None:
        return refusal
    if prorate_first_invoice and not plan.prorate_first_invoice:
        return _reject(
            RejectionCode.PRORATE_NOT_ALLOWED,
            f"Cannot {doing} with a prorated first invoice: plan {plan.code} does not allow it. "
            "Create it without the flag (a short first period is then charged at the full "
            "price), or choose a plan that allows it.",
        )
    if price is not None:
        try:
            price = parse_amount(price, old.currency)
        except BillingError as error:
            return _reject(
                RejectionCode.INVALID_PRICE, f"Cannot {doing} at the price {price}. {error}"
            )
    if id == old.id:
        return _reject(
            RejectionCode.INVALID_ID,
            f"Cannot {doing}: the new term needs an id of its own, not {old.id}'s.",
        )
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
        return _reject(
            RejectionCode.INVALID_ID,
            f"Cannot {doing}: {id!r} is not a valid contract id. Use up to 64 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit.",
        )
    return Decision(
        contract=contract,
        effect=_new_term_effect(old, contract, deposit_held),
        warnings=_new_term_warnings(old, contract, old_end, today),
        requested=requested,
    )


def _first_invoice_text(contract: Contract) -> str:
    """R8: the first invoice covers `[start, next aligned date)`, a stub unless start is aligned."""
    start = contract.start
    period_start, period_end = period_containing(
        start, anchor=contract.anchor, every=contract.plan.every
    )
    head = f"its first invoice, on {start}, covers {start} to {period_end}"
    if period_start == start:
        return f"{head}, a full period: {_money(contract.price, contract)}"
    if not contract.prorate_first_invoice:
        return f"{head} at the full price, not prorated: {_money(contract.price, contract)}"
    amount = prorate_span(
        contract.price,
        period_start=period_start,
        period_end=period_end,
        start=start,
        end=period_end,
        currency=contract.currency,
    )
    days, period_days = (period_end - start).days, (period_end - period_start).days
    return f"{head}, prorated ({days} of {period_days} days): {_money(amount, contract)}"


def _new_term_effect(old: Contract, contract: Contract, deposit_held: Decimal | None) -> str:
    custom = " (custom price)" if contract.custom_price else ""
    return (
        f"New term {contract.id} replaces contract {old.id} for customer {contract.customer_id}: "
        f"plan {contract.plan.code} at {_money(contract.price, contract)}{custom} every "
        f"{contract.plan.every}, billing anchored on {contract.anchor}. It starts on "
        f"{contract.start}; {_first_invoice_text(contract)}. "
        + _deposit_text(old, contract, deposit_held)
    )


def _deposit_text(old: Contract, contract: Contract, held: Decimal | None) -> str:
    """R9, R13: the old contract's deposit passes on while it holds one; else it is charged."""
    if held is None:
        return f"The deposit held by contract {old.id} passes to it."
    required = contract.plan.deposit
    first = deposits.first_invoice_deposit(required=required, inherited=held)
    if held > 0:
        top_up = (
            f"; its first invoice charges the top-up of {_money(first.charge, contract)}"
            if first.charge > 0
            else ""
        )
        return (
            f"Contract {old.id} still holds a deposit of {_money(held, contract)}, which passes "
            f"to it{top_up}."
        )
    if required > 0:
        return (
            f"Contract {old.id} holds no deposit any more (refunded when it ended, or never "
            f"charged): the first invoice charges plan {contract.plan.code}'s deposit of "
            f"{_money(first.charge, contract)} in full."
        )
    return f"Plan {contract.plan.code} has no deposit."


def _new_term_warnings(
    old: Contract, contract: Contract, old_end: date, today: date
) -> tuple[str, ...]:
    warnings: list[str] = []
    if contract.start < today:
        warnings.append(
            f"The new term starts in the past, on {contract.start}: it starts at once, and its "
            f"first invoice is dated {contract.start}."
        )
    if contract.start > old_end:
        ends = "ended" if old.status is ContractStatus.CANCELLED else "ends"
        warnings.append(
            f"There is a gap: contract {old.id} {ends} on {old_end} and the new term starts on "
            f"{contract.start}; the days between are neither served nor billed."
        )
    if contract.prorate_first_invoice and is_boundary(
        contract.start, anchor=contract.anchor, every=contract.plan.every
    ):
        warnings.append(
            f"The new term starts on its billing anchor ({contract.start}), so its first "
            "invoice is a full period and the prorate flag has no effect."
        )
    if contract.custom_price:
        warnings.append(
            f"The price {_money(contract.price, contract)} differs from plan "
            f"{contract.plan.code}'s {_money(contract.plan.price, contract)}: a custom price "
            "rules out automated plan changes later (`contracts change`)."
        )
    return tuple(warnings)
