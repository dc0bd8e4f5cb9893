"""Adjusting a running contract without ending it: freezes (R17) and scheduled prices (R18), as
pure rules over a `Contract` that return a `Decision` or a `Rejection` (`billing.decisions`).

A price changes only on an invoice date, so nothing is prorated; a freeze starts on the next
invoice date and leaves whole periods unbilled. `billing.lifecycle` acts on both when their dates
come; `clear_change` (in `billing.rules`) undoes a scheduled price, `unfreeze` a freeze.
"""

from datetime import date, timedelta
from decimal import Decimal

from billing import effects, texts
from billing.contract import Command, Contract, ContractStatus, Freeze, ScheduledPrice
from billing.decisions import (
    Decision,
    Rejection,
    RejectionCode,
    refuse_change_pending,
    refuse_if_cancelling,
    refuse_if_ended,
    refuse_if_not_started,
    reject,
)
from billing.errors import BillingError
from billing.money import parse_amount
from billing.periods import invoice_dates, period_containing
from billing.term_dates import current_freeze, freeze_end, freeze_status, shift_by_cycles

YEAR = timedelta(days=365)
"""R17: freezes count against `max_freezes_per_year` when they start in the 365 days up to the
new one's start."""


# --- R18: a scheduled price ----------------------------------------------------------------------


def set_price(
    contract: Contract,
    *,
    price: Decimal,
    from_: date | None,
    requested: Command,
    today: date,
) -> Decision | Rejection:
    """R18: from the first invoice date on or after `from_` (default: the next invoice date) the
    contract is invoiced at `price`; a price already scheduled is replaced."""
    try:
        price = parse_amount(price, contract.currency)
    except BillingError as error:
        doing = f"set the price of contract {contract.id} to {price}"
        return reject(RejectionCode.INVALID_PRICE, texts.invalid_price(doing, price, error))
    doing = texts.doing_set_price(price, contract)
    refusal = (
        refuse_if_ended(contract, today, doing, texts.continue_hint(contract))
        or refuse_if_cancelling(contract, doing)
        or refuse_change_pending(contract, doing)
    )
    if refusal is not None:
        return refusal
    if from_ is not None and from_ < today:
        return reject(
            RejectionCode.DATE_IN_PAST, texts.price_date_in_past(contract, price, from_, today)
        )
    if price == contract.price and contract.scheduled_price is None:
        return reject(RejectionCode.NOTHING_SCHEDULED, texts.price_unchanged(contract, doing))
    return _schedule_price(contract, price, from_, requested, plan_price=False)


def _schedule_price(
    contract: Contract, price: Decimal, from_: date | None, requested: Command, *, plan_price: bool
) -> Decision:
    """R18: the price scheduled for the first invoice date on or after `from_`, replacing one
    already scheduled."""
    replaced = contract.scheduled_price.price if contract.scheduled_price is not None else None
    scheduled = ScheduledPrice(
        price=price,
        effective=first_invoice_date_from(contract, from_),
        requested=requested,
        plan_price=plan_price,
    )
    after = contract.model_copy(update={"scheduled_price": scheduled})
    return Decision(
        contract=after,
        effect=effects.price_scheduled(contract, after, replaced),
        requested=requested,
    )


def first_invoice_date_from(contract: Contract, from_: date | None) -> date:
    """R18: the first invoice date on or after `from_` that is still ahead (default: the next
    invoice date; the start, for a contract not started)."""
    first = contract.start if contract.status is ContractStatus.INACTIVE else None
    upcoming = first or contract.next_invoice_date
    assert upcoming is not None
    wanted = upcoming if from_ is None else max(from_, upcoming)
    return next(
        day
        for day in invoice_dates(upcoming, anchor=contract.anchor, every=contract.plan.every)
        if day >= wanted
    )


def plan_price(
    contract: Contract,
    *,
    plan_code: str,
    price: Decimal,
    from_: date,
    grandfather: bool,
    requested: Command,
    today: date,
) -> Decision | Rejection:
    """R18 `plan_price`: the plan's price becomes `price`.

    A contract on the plan without a custom price is invoiced at it from its first invoice date
    on or after `from_` — unless it leaves the plan by then (a change or its end comes first);
    with `grandfather`, it keeps its price instead, which becomes its custom price. A contract
    with a custom price is unaffected either way. A contract changing to the plan on its next
    invoice date starts its new term at the new price (it is created later), unless the change
    names its own price.
    """
    try:
        price = parse_amount(price, contract.currency)
    except BillingError as error:
        doing = f"set plan {plan_code}'s price to {price} on contract {contract.id}"
        return reject(RejectionCode.INVALID_PRICE, texts.invalid_price(doing, price, error))
    doing = texts.doing_plan_price(plan_code, price, contract)
    refusal = refuse_if_ended(contract, today, doing, texts.continue_hint(contract))
    if refusal is not None:
        return refusal
    if contract.plan.code != plan_code:
        return _next_plan_price(contract, plan_code, price, requested, doing)
    if contract.custom_price or contract.price == price:
        return reject(RejectionCode.UNAFFECTED, texts.plan_price_unaffected(contract, price))
    if grandfather:
        after = contract.model_copy(
            update={"plan": contract.plan.model_copy(update={"price": price})}
        )
        return Decision(
            contract=after,
            effect=effects.grandfathered(contract, price),
            requested=requested,
        )
    if from_ < today:
        return reject(
            RejectionCode.DATE_IN_PAST, texts.plan_price_date_in_past(doing, from_, today)
        )
    effective = first_invoice_date_from(contract, from_)
    leaves = _leaves_plan_on(contract)
    if leaves is not None and leaves <= effective:
        return reject(
            RejectionCode.UNAFFECTED, texts.leaves_before_price(contract, price, leaves, effective)
        )
    if contract.scheduled_price is not None and not contract.scheduled_price.plan_price:
        return reject(RejectionCode.CONFLICT, texts.price_pending(contract, doing))
    return _schedule_price(contract, price, from_, requested, plan_price=True)


def _leaves_plan_on(contract: Contract) -> date | None:
    """The first day the contract is no longer on its plan: its end, or its scheduled change."""
    if contract.scheduled_change is not None:
        return contract.next_invoice_date
    if contract.cancellation is not None:
        return contract.cancellation.date
    return None


def _next_plan_price(
    contract: Contract, plan_code: str, price: Decimal, requested: Command, doing: str
) -> Decision | Rejection:
    """A plan's new price for a contract changing to that plan on its next invoice date."""
    change = contract.scheduled_change
    if change is None or change.next_plan is None or change.next_plan.code != plan_code:
        return reject(RejectionCode.NOT_ON_PLAN, texts.not_on_plan(contract, doing, plan_code))
    if change.price is not None or change.next_plan.price == price:
        return reject(RejectionCode.UNAFFECTED, texts.next_term_price_kept(contract, change, price))
    next_plan = change.next_plan.model_copy(update={"price": price})
    after = contract.model_copy(
        update={"scheduled_change": change.model_copy(update={"next_plan": next_plan})}
    )
    return Decision(
        contract=after,
        effect=effects.next_term_repriced(contract, change, price),
        requested=requested,
    )


# --- R17: freezes --------------------------------------------------------------------------------


def freeze(
    contract: Contract,
    *,
    cycles: int,
    requested: Command,
    today: date,
    override_terms: bool = False,
) -> Decision | Rejection:
    """R17: no plan line for `cycles` periods from the next invoice date; the commitment end
    moves later by as many cycles. Refused while a cancellation or plan change is pending, while
    a freeze is scheduled or running, and beyond the plan's limits unless `override_terms`."""
    doing = texts.DOING_FREEZE
    refusal = (
        refuse_if_ended(contract, today, doing, texts.continue_hint(contract))
        or refuse_if_not_started(contract, doing, "Freeze it once it has started.")
        or refuse_if_cancelling(contract, doing)
        or refuse_change_pending(contract, doing)
    )
    if refusal is not None:
        return refusal
    running = current_freeze(contract)
    if running is not None:
        return reject(
            RejectionCode.CONFLICT, texts.freeze_running(contract, running.start, running.end)
        )
    if cycles < 1:
        return reject(RejectionCode.INVALID_CYCLES, texts.invalid_cycles(cycles))
    start = contract.next_invoice_date
    assert start is not None, "a started contract has a next invoice date"
    passed: list[str] = []
    limit = contract.terms.max_freeze_cycles
    if limit is not None and cycles > limit:
        if not override_terms:
            return reject(
                RejectionCode.FREEZE_LIMIT, texts.freeze_too_long(contract, cycles, limit)
            )
        passed.append(f"at most {_count(limit, 'cycle')} per freeze (max_freeze_cycles)")
    per_year = contract.terms.max_freezes_per_year
    recent = [f for f in contract.freezes if start - YEAR < f.start <= start]
    if per_year is not None and len(recent) >= per_year:
        if not override_terms:
            earliest = _first_free_start(contract, recent, per_year)
            return reject(
                RejectionCode.FREEZE_LIMIT,
                texts.too_many_freezes(contract, start, len(recent), per_year, earliest),
            )
        passed.append(f"at most {_count(per_year, 'freeze')} a year (max_freezes_per_year)")
    if freeze_status(contract) is not None:  # its last frozen period runs now
        return reject(
            RejectionCode.CONFLICT,
            texts.freeze_ending(contract, doing, contract.freezes[-1].end),
        )
    if passed and not requested.reason.strip():
        return reject(RejectionCode.OVERRIDE_WITHOUT_REASON, texts.override_without_reason(doing))
    commitment = contract.commitment_end
    new = Freeze(
        start=start,
        end=freeze_end(contract, start, cycles),
        cycles=cycles,
        requested=requested,
        commitment_before=commitment,
    )
    after = contract.model_copy(
        update={
            "freezes": (*contract.freezes, new),
            "commitment_end": None
            if commitment is None
            else shift_by_cycles(commitment, contract, cycles),
        }
    )
    return Decision(
        contract=after,
        effect=effects.frozen(contract, after) + effects.overridden(passed),
        requested=requested,
    )


def _count(number: int, noun: str) -> str:
    """`number` of `noun`: 1 cycle, 2 cycles."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _first_free_start(contract: Contract, recent: list[Freeze], per_year: int) -> date:
    """The first invoice date on which a new freeze would be within `per_year`."""
    oldest_counted = sorted(f.start for f in recent)[len(recent) - per_year]
    free_from = oldest_counted + YEAR
    start = contract.next_invoice_date
    assert start is not None
    return next(
        day
        for day in invoice_dates(start, anchor=contract.anchor, every=contract.plan.every)
        if day >= free_from
    )


def unfreeze(contract: Contract, *, requested: Command, today: date) -> Decision | Rejection:
    """R17: end the freeze at the next invoice date (a freeze not yet begun is dropped); the
    commitment end keeps only the cycles actually frozen."""
    doing = texts.DOING_UNFREEZE
    refusal = refuse_if_ended(contract, today, doing, texts.continue_hint(contract))
    if refusal is not None:
        return refusal
    running = current_freeze(contract)
    if running is None and freeze_status(contract) is not None:
        return reject(
            RejectionCode.NOT_FROZEN, texts.freeze_ending(contract, doing, contract.freezes[-1].end)
        )
    if running is None:
        return reject(RejectionCode.NOT_FROZEN, texts.not_frozen(contract))
    nid = contract.next_invoice_date
    assert nid is not None
    kept = contract.freezes[:-1]
    frozen_cycles = 0
    if nid > running.start:
        frozen_cycles = _cycles_between(contract, running.start, nid)
        kept = (*kept, running.model_copy(update={"end": nid, "cycles": frozen_cycles}))
    commitment = running.commitment_before
    if commitment is not None and frozen_cycles:
        commitment = shift_by_cycles(commitment, contract, frozen_cycles)
    after = contract.model_copy(update={"freezes": kept, "commitment_end": commitment})
    return Decision(contract=after, effect=effects.unfrozen(contract, after), requested=requested)


def _cycles_between(contract: Contract, start: date, end: date) -> int:
    cycles, day = 0, start
    while day < end:
        day = period_containing(day, anchor=contract.anchor, every=contract.plan.every)[1]
        cycles += 1
    return cycles
