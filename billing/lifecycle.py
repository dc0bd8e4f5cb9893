"""A contract's life on its dates (R1, R2, R5–R8): what happens on each date the workflow wakes.

`next_event_date` says when the contract next needs attention; `advance` says what happens then:
the new contract state and the invoice issued that day (if any). The workflow sleeps until 00:00
local time on `next_event_date`, calls `advance`, and hands the invoice to an activity.
"""

import re
from datetime import date

from pydantic import BaseModel, ConfigDict

from billing.contract import (
    ChangeKind,
    Contract,
    ContractStatus,
    InvoiceDraft,
    InvoiceLine,
    InvoicePurpose,
    LineKind,
    PriceUntil,
    new_contract,
)
from billing.money import format_money
from billing.periods import period_containing
from billing.proration import prorate, prorate_span
from billing.term_dates import (
    END_OF_TERM,
    frozen_on,
    renewal_date,
    renewal_notice_date,
    term_events,
)

_TERM_SUFFIX = re.compile(r"^(?P<base>.+)-t(?P<term>\d+)$")


class Step(BaseModel):
    """What happened on one date: the contract after it, and what to write."""

    model_config = ConfigDict(frozen=True)

    day: date
    contract: Contract
    invoice: InvoiceDraft | None = None
    successor: Contract | None = None
    """The contract that starts this day on the next plan (automated switch, R5)."""
    summary: str


def successor_id(contract_id: str) -> str:
    """The id of the next term of a contract: `c1` → `c1-t2` → `c1-t3`."""
    match = _TERM_SUFFIX.match(contract_id)
    if match is None:
        return f"{contract_id}-t2"
    return f"{match['base']}-t{int(match['term']) + 1}"


def next_event_date(contract: Contract) -> date | None:
    """The next date on which `advance` has something to do; None once the contract has ended."""
    due = _next_regular_date(contract)
    if due is None:
        return None
    for term_date in (renewal_notice_date(contract), renewal_date(contract)):
        if term_date is not None:
            due = min(due, term_date)
    return due


def _next_regular_date(contract: Contract) -> date | None:
    """The next start, invoice date or end; None once the contract has ended."""
    if contract.status is ContractStatus.CANCELLED:
        return None
    due = (
        contract.start if contract.status is ContractStatus.INACTIVE else contract.next_invoice_date
    )
    assert due is not None, "an active contract always has a next invoice date"
    if contract.cancellation is not None:
        due = min(due, contract.cancellation.date)
    return due


def _plan_line(contract: Contract, span_start: date, span_end: date) -> InvoiceLine:
    """The plan charge for the span `[span_start, span_end)` of one anchored period.

    The span is shorter than its period only for a first stub (R8) or a last period cut by a
    cancellation (R7); each shortening is prorated only where its flag says so, else the full
    price is charged.
    """
    period_start, period_end = period_containing(
        span_start, anchor=contract.anchor, every=contract.plan.every
    )
    cancellation = contract.cancellation
    cut = cancellation is not None and span_end < period_end
    if cut and cancellation is not None and cancellation.prorate:
        # The last invoice of a cancellation with proration charges exactly the days served.
        charged_from, charged_to = span_start, span_end
    else:
        charged_from = span_start if contract.prorate_first_invoice else period_start
        charged_to = period_end
        # Not prorated, a last invoice cut at the cancellation charges to the period's end, and
        # its line covers what it charges (R7): the days past the end are paid, not served.
        span_end = period_end
    full = charged_from == period_start and charged_to == period_end
    amount = (
        contract.price
        if full
        else prorate(
            contract.price,
            period_start=period_start,
            period_end=period_end,
            start=charged_from,
            end=charged_to,
            currency=contract.currency,
        )
    )
    prorated = "" if full else f", prorated {(charged_to - charged_from).days}/"
    prorated += "" if full else f"{(period_end - period_start).days} days"
    if cut and not (cancellation is not None and cancellation.prorate):
        assert cancellation is not None
        prorated += f"; ends on {cancellation.date}, not prorated"
    return InvoiceLine(
        kind=LineKind.PLAN,
        period_start=span_start,
        period_end=span_end,
        amount=amount,
        description=f"{contract.plan.name} {span_start} to {span_end}{prorated}",
    )


def _draft(contract: Contract, day: date, *lines: InvoiceLine, **extra: object) -> InvoiceDraft:
    return InvoiceDraft.model_validate(
        {
            "contract_id": contract.id,
            "customer_id": contract.customer_id,
            "currency": contract.currency,
            "issue_date": day,
            "lines": lines,
            **extra,
        }
    )


def _invoice_period(contract: Contract, day: date, *, first: bool) -> Step:
    """Bill in advance (R1) the span from `day` to the next boundary or the cancellation date;
    a price scheduled for `day` applies first (R18), and a frozen period bills nothing (R17)."""
    repriced = contract.scheduled_price
    if repriced is not None and repriced.effective <= day:
        contract = contract.model_copy(
            update={
                "price": repriced.price,
                "scheduled_price": None,
                **(
                    {"plan": contract.plan.model_copy(update={"price": repriced.price})}
                    if repriced.plan_price
                    else {}
                ),
                "earlier_prices": (
                    *contract.earlier_prices,
                    PriceUntil(price=contract.price, until=day),
                ),
            }
        )
    _, period_end = period_containing(day, anchor=contract.anchor, every=contract.plan.every)
    if not first and frozen_on(contract, day) is not None:
        after = contract.model_copy(update={"next_invoice_date": period_end})
        return Step(
            day=day,
            contract=after,
            summary=f"Frozen: nothing invoiced for {day} to {period_end}.",
        )
    span_end = period_end
    if contract.cancellation is not None and contract.cancellation.date < period_end:
        span_end = contract.cancellation.date
    line = _plan_line(contract, day, span_end)
    after = contract.model_copy(
        update={
            "status": ContractStatus.ACTIVE,
            "next_invoice_date": period_end,
            "billed_from": day,
            "billed_through": line.period_end,
        }
    )
    # Only the first invoice charges the deposit, taking over what the replaced contract held (R9).
    deposit = {"deposit_due": contract.plan.deposit, "replaces": contract.replaces} if first else {}
    draft = _draft(after, day, line, **deposit)
    verb = "Started; first invoice" if first else "Invoiced"
    return Step(
        day=day,
        contract=after,
        invoice=draft,
        summary=f"{verb} {format_money(line.amount, contract.currency)} for {day} to "
        f"{line.period_end}.",
    )


def _end(contract: Contract, day: date, why: str) -> Step:
    """The contract ends at 00:00 on `day` (R3); credit what was billed beyond it if asked (R7)."""
    lines: list[InvoiceLine] = []
    cancellation = contract.cancellation
    billed_through = contract.billed_through
    if (
        cancellation is not None
        and cancellation.prorate
        and contract.billed_from is not None
        and billed_through is not None
        and day < billed_through
    ):
        period_start, period_end = period_containing(
            contract.billed_from, anchor=contract.anchor, every=contract.plan.every
        )
        credit = prorate(
            contract.price,
            period_start=period_start,
            period_end=period_end,
            start=day,
            end=billed_through,
            currency=contract.currency,
        )
        lines.append(
            InvoiceLine(
                kind=LineKind.PRORATION_CREDIT,
                period_start=day,
                period_end=billed_through,
                amount=-credit,
                description=f"Credit for {day} to {billed_through}, not served",
            )
        )
    if cancellation is not None and cancellation.charge_remaining_term:
        # R15: from the end of what is billed after R7 (D when credited, else where the last
        # plan line ends) to the commitment end.
        billed_end = day if lines or billed_through is None else max(billed_through, day)
        line = early_termination_line(contract, billed_end)
        if line is not None:
            lines.append(line)
    after = contract.model_copy(
        update={
            "status": ContractStatus.CANCELLED,
            "end": day,
            "scheduled_change": None,
            "scheduled_price": None,
        }
    )
    return Step(
        day=day,
        contract=after,
        invoice=_draft(after, day, *lines, settle_deposit=True, purpose=InvoicePurpose.CLOSING),
        summary=f"Cancelled {why}; last day served {day.fromordinal(day.toordinal() - 1)}.",
    )


def early_termination_line(contract: Contract, billed_end: date) -> InvoiceLine | None:
    """R15: the committed days `[billed_end, commitment end)` at the contract's price, period by
    period (R4); None when nothing of the commitment is left."""
    commitment = contract.commitment_end
    if commitment is None or billed_end >= commitment:
        return None
    amount = prorate_span(
        contract.price,
        anchor=contract.anchor,
        every=contract.plan.every,
        start=billed_end,
        end=commitment,
        currency=contract.currency,
    )
    term = contract.terms.minimum_term
    return InvoiceLine(
        kind=LineKind.EARLY_TERMINATION,
        period_start=billed_end,
        period_end=commitment,
        amount=amount,
        description=f"Early termination: committed {billed_end} to {commitment}"
        + (f" (minimum term {term})" if term else ""),
    )


def _switch(contract: Contract, day: date) -> Step:
    """Automated change (R5): end today, and a new contract on the next plan starts today."""
    change = contract.scheduled_change
    assert change is not None
    assert change.next_plan is not None
    successor = new_contract(
        id=successor_id(contract.id),
        customer_id=contract.customer_id,
        location=contract.location,
        plan=change.next_plan,
        start=day,
        price=change.price,
        replaces=contract.id,
        inherited_commitment=contract.commitment_end,
    )
    ended = _end(contract, day, f"by the switch to {change.next_plan.code}")
    after = ended.contract.model_copy(update={"successor_id": successor.id})
    assert ended.invoice is not None
    return Step(
        day=day,
        contract=after,
        invoice=ended.invoice.model_copy(update={"successor_id": successor.id}),
        successor=successor,
        summary=f"Switched to {change.next_plan.code} as contract {successor.id}.",
    )


def advance(contract: Contract) -> Step:
    """What happens on `next_event_date(contract)`: the terms' dates (R16), then start, invoice,
    switch or end."""
    day = next_event_date(contract)
    if day is None:
        raise ValueError(f"Contract {contract.id} has ended; nothing happens to it any more.")
    contract, notes = term_events(contract, day)
    if _next_regular_date(contract) != day:
        return Step(day=day, contract=contract, summary=" ".join(notes))
    step = _regular_step(contract, day)
    if notes:
        step = step.model_copy(update={"summary": " ".join([*notes, step.summary])})
    return step


def next_regular_step(contract: Contract) -> Step:
    """What happens on the contract's next start, invoice date, switch or end, after the term
    dates before it (R16: a renewal notice, a renewal), which only change its terms on the way.

    What a command's effect describes: `advance` alone may stop at a term date first.
    """
    for _ in range(MAX_STEPS_TO_END):
        regular = _next_regular_date(contract)
        step = advance(contract)
        if step.day == regular or step.contract.status is ContractStatus.CANCELLED:
            return step
        contract = step.contract
    raise AssertionError(f"Contract {contract.id} has no regular date within reach")


def _regular_step(contract: Contract, day: date) -> Step:
    cancellation = contract.cancellation
    if cancellation is not None and cancellation.date == day:
        return _end(contract, day, f"on {day} as requested by {cancellation.requested.actor}")
    if contract.status is ContractStatus.INACTIVE:
        return _invoice_period(contract, day, first=True)
    change = contract.scheduled_change
    if change is not None and change.kind is ChangeKind.NEXT_PLAN:
        return _switch(contract, day)
    if change is not None and change.kind is ChangeKind.CANCEL_AT_NEXT_INVOICE:
        return _end(contract, day, "at its next invoice date")
    return _invoice_period(contract, day, first=False)


def invoice_on(contract: Contract, day: date) -> InvoiceDraft:
    """The invoice `contract`, as it stands, issues on `day`, one of its invoice dates before its
    end: its start, or a period boundary from its next invoice date on (R1).

    A preview for a date further ahead than `advance` reaches, without stepping through the
    periods between: how a date is billed depends on the contract's price, plan, anchor and
    cancellation, which those periods do not change.
    """
    first = contract.status is ContractStatus.INACTIVE and day == contract.start
    invoice = _invoice_period(contract, day, first=first).invoice
    assert invoice is not None, "every invoice date bills its period"
    return invoice


MAX_STEPS_TO_END = 1000
"""How many dates `closing_invoice` steps through at most (ten years of weekly periods)."""


def closing_invoice(contract: Contract) -> InvoiceDraft | None:
    """The invoice `contract`, set to end, issues on its last day (its credit, its early
    termination); None when it is not set to end within `MAX_STEPS_TO_END` dates."""
    current = contract
    for _ in range(MAX_STEPS_TO_END):
        if next_event_date(current) is None:
            return None
        step = advance(current)
        if step.contract.status is ContractStatus.CANCELLED:
            return step.invoice
        current = step.contract
    return None


def undo_cancellation(contract: Contract, day: date) -> Step:
    """Undo a manual cancellation on `day`, while its date is ahead (R7): the contract continues
    as if never cancelled. If its last invoice was already cut at the cancellation date with
    proration, the days from that date to the next invoice date are invoiced on `day` (a plan
    line, R4); without proration the whole period was charged, and nothing more is due."""
    cancellation = contract.cancellation
    assert cancellation is not None, "only a pending cancellation is undone"
    after = contract.model_copy(update={"cancellation": None})
    cut_at, next_invoice = contract.billed_through, contract.next_invoice_date
    if (
        contract.status is not ContractStatus.ACTIVE
        or not cancellation.prorate
        or cut_at is None
        or next_invoice is None
        or cut_at >= next_invoice
    ):
        return Step(day=day, contract=after, summary="Cancellation undone; nothing is due.")
    period_start, period_end = period_containing(
        cut_at, anchor=contract.anchor, every=contract.plan.every
    )
    amount = prorate(
        contract.price,
        period_start=period_start,
        period_end=period_end,
        start=cut_at,
        end=next_invoice,
        currency=contract.currency,
    )
    days, period_days = (next_invoice - cut_at).days, (period_end - period_start).days
    line = InvoiceLine(
        kind=LineKind.PLAN,
        period_start=cut_at,
        period_end=next_invoice,
        amount=amount,
        description=f"{contract.plan.name} {cut_at} to {next_invoice}, prorated "
        f"{days}/{period_days} days; cut from the last invoice by a cancellation since undone",
    )
    after = after.model_copy(update={"billed_through": next_invoice})
    return Step(
        day=day,
        contract=after,
        invoice=_draft(after, day, line, purpose=InvoicePurpose.UNCANCEL),
        summary=f"Cancellation undone; invoiced {format_money(amount, contract.currency)} for "
        f"{cut_at} to {next_invoice}, cut from the last invoice.",
    )


def describe_next_event(contract: Contract) -> str:
    """What happens next, in words, for the UI and the CLI."""
    day = next_event_date(contract)
    if day is None:
        return f"Ended on {contract.end}." if contract.end else "Ended."
    if day != _next_regular_date(contract):
        if renewal_notice_date(contract) == day:
            return f"Renewal upcoming recorded on {day} (commitment end {contract.commitment_end})."
        return f"Renews its commitment on {day}."
    cancellation = contract.cancellation
    if cancellation is not None and cancellation.date == day:
        if cancellation.requested == END_OF_TERM:
            return f"Ends on {day} (end of term)."
        return f"Ends on {day} (manual cancellation)."
    if contract.status is ContractStatus.INACTIVE:
        return f"Starts on {day} with its first invoice."
    change = contract.scheduled_change
    if change is not None and change.next_plan is not None:
        return f"Switches to {change.next_plan.code} on {day}."
    if change is not None:
        return f"Ends on {day} (cancel at next invoice date)."
    if frozen_on(contract, day) is not None:
        return f"Frozen: nothing invoiced on {day}."
    return f"Next invoice on {day}."


def upcoming_invoice_date(contract: Contract) -> date | None:
    """The date of the next invoice that bills a period: the start while inactive, else the next
    invoice date — unless the contract ends on or before it. A scheduled switch (R5) bills that
    date too, to the next plan's contract that starts then."""
    if contract.status is ContractStatus.CANCELLED:
        return None
    day = (
        contract.start if contract.status is ContractStatus.INACTIVE else contract.next_invoice_date
    )
    change = contract.scheduled_change
    if day is None or (change is not None and change.kind is ChangeKind.CANCEL_AT_NEXT_INVOICE):
        return None
    if contract.cancellation is not None and contract.cancellation.date <= day:
        return None
    while change is None and contract.status is ContractStatus.ACTIVE and frozen_on(contract, day):
        day = period_containing(day, anchor=contract.anchor, every=contract.plan.every)[1]
        if contract.cancellation is not None and contract.cancellation.date <= day:
            return None
    return day


def term_end(contract: Contract) -> date | None:
    """The first day a contract no longer serves, once known: its end, cancellation date, or the
    next invoice date when it is set to cancel or switch then (R5, R6); None while it runs on
    indefinitely."""
    if contract.end is not None:
        return contract.end
    if contract.cancellation is not None:
        return contract.cancellation.date
    if contract.scheduled_change is not None:
        return contract.next_invoice_date
    return None


def upcoming(contract: Contract, *, events: int = 3) -> list[Step]:
    """The next `events` steps of the contract's life, without changing anything (a preview).

    An automated switch continues into the successor's first step, since that is what the
    customer is invoiced next.
    """
    steps: list[Step] = []
    current: Contract | None = contract
    while current is not None and len(steps) < events:
        if next_event_date(current) is None:
            break
        step = advance(current)
        steps.append(step)
        current = step.successor if step.successor is not None else step.contract
    return steps
