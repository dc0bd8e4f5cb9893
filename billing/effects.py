"""What an accepted admin command will do, in words (R5–R9, R13): the effects and warnings of
`billing.rules`' decisions, for the audit log and the preview.

Every amount a sentence states is read from an invoice line that `billing.lifecycle` computes for
the contract in question — the line its invoice will carry — never computed a second time here, so
a preview cannot drift from the invoice: a credit is the closing invoice's `proration_credit` line,
a last or first invoice its `plan` line, the new contract of a switch its first invoice's line,
and a deposit what the ledger charges for the first invoice's `deposit_due`.
"""

from datetime import date, timedelta
from decimal import Decimal

from billing import deposits, lifecycle
from billing.commands import Cli, command
from billing.contract import (
    Cancellation,
    Contract,
    ContractStatus,
    InvoiceDraft,
    InvoiceLine,
    LineKind,
    Plan,
    ScheduledChange,
)
from billing.periods import is_boundary, period_containing
from billing.term_dates import frozen_on
from billing.texts import cancellation_text, money, pending_change_text

_DAY = timedelta(days=1)

CANCEL_AT_NEXT_INVOICE_WARNING = (
    "Cancelling at the next invoice date is not the recommended way to cancel: use "
    f"{command(Cli.CANCEL, date=True)} to choose the cancellation date and whether the last "
    "invoice is prorated."
)


# --- amounts: read from the lines `billing.lifecycle` computes ------------------------------------


def _line(invoice: InvoiceDraft | None, kind: LineKind) -> InvoiceLine | None:
    """The invoice's line of `kind`, if it has one."""
    if invoice is None:
        return None
    return next((line for line in invoice.lines if line.kind is kind), None)


def _plan_line(invoice: InvoiceDraft | None) -> InvoiceLine:
    line = _line(invoice, LineKind.PLAN)
    assert line is not None, "an invoice date bills its period"
    return line


def _days(line: InvoiceLine) -> int:
    return (line.period_end - line.period_start).days


def _period_days(contract: Contract, day: date) -> int:
    """The length of the anchored period that contains `day` (the denominator of R4)."""
    start, end = period_containing(day, anchor=contract.anchor, every=contract.plan.every)
    return (end - start).days


# --- R5: automated change -------------------------------------------------------------------------


def switch_unchanged(contract: Contract, plan_code: str) -> str:
    return (
        f"Contract {contract.id} already switches to plan {plan_code} on "
        f"{contract.next_invoice_date}; nothing changes."
    )


def switch_effect(contract: Contract, after: Contract, replaced: Plan | None) -> str:
    """R5: `after` is `contract` with the switch scheduled; the amount is the first invoice of the
    new contract, as the lifecycle issues it on the switch date."""
    successor = lifecycle.next_regular_step(after).successor
    assert successor is not None, "a scheduled next plan switches on the next invoice date"
    first = _plan_line(lifecycle.next_regular_step(successor).invoice)
    effect = (
        f"Contract {contract.id} switches from plan {contract.plan.code} to plan "
        f"{successor.plan.code} on its next invoice date, {contract.next_invoice_date}: a new "
        f"contract at {money(first.amount, successor)} starts that day and is invoiced for its "
        "full first period."
    )
    if replaced is not None:
        effect += f" This replaces the scheduled switch to plan {replaced.code}."
    return effect


# --- R6: cancel at next invoice date; clearing a scheduled change ---------------------------------


def cancel_at_next_invoice_unchanged(contract: Contract) -> str:
    return (
        f"Contract {contract.id} is already set to cancel on its next invoice date, "
        f"{contract.next_invoice_date}; nothing changes."
    )


def cancel_at_next_invoice_effect(contract: Contract) -> str:
    day = contract.next_invoice_date
    return (
        f"Contract {contract.id} is cancelled on its next invoice date, {day}: the period up to "
        f"{day} stays billed as it is, and no invoice is issued for the following period."
    )


def cleared(contract: Contract) -> str:
    return (
        f"Cleared the {pending_change_text(contract)} on contract {contract.id}: it is invoiced "
        f"as usual on {contract.next_invoice_date}."
    )


# --- R7: manual cancellation, and its undo --------------------------------------------------------


def retroactive(day: date, today: date) -> str:
    return (
        f"The cancellation is retroactive: {day} is before today, {today}, so the contract "
        "ends at once."
    )


def cancellation_effect(contract: Contract, after: Contract) -> str:
    """What a manual cancellation will do (R7, R15): `after` is `contract` with the
    cancellation; the amounts are the lines the lifecycle issues for `after` — its credit or its
    last invoice, and the early termination charged on its date."""
    effect = _cancellation_effect(contract, after)
    cancellation = after.cancellation
    if cancellation is None or not cancellation.charge_remaining_term:
        return effect
    line = _line(lifecycle.closing_invoice(after), LineKind.EARLY_TERMINATION)
    if line is None:
        return effect
    return (
        f"{effect} The committed days {line.period_start} to {line.period_end} are charged on "
        f"{cancellation.date} as early termination: {money(line.amount, contract)}."
    )


def overridden(passed: list[str]) -> str:
    """The terms an override passed (R14, R15), for the audit log; "" when none."""
    return f" Terms overridden: {'; '.join(passed)}." if passed else ""


def nothing_committed(contract: Contract, day: date) -> str:
    commitment = contract.commitment_end
    until = f"ends on {commitment}" if commitment is not None else "has no minimum term"
    return (
        f"Nothing is charged for the remaining term: the commitment of contract {contract.id} "
        f"{until}, not after {day}."
    )


def _cancellation_effect(contract: Contract, after: Contract) -> str:
    cancellation = after.cancellation
    assert cancellation is not None
    day = cancellation.date
    ends = f"Contract {contract.id} ends at 00:00 on {day}, the first day not served"
    anchor, every = contract.anchor, contract.plan.every
    if contract.status is ContractStatus.INACTIVE:
        if day == contract.start:
            return f"{ends}: it never starts, and nothing is invoiced."
        last = max(contract.start, period_containing(day - _DAY, anchor=anchor, every=every)[0])
        if last == contract.start and not is_boundary(last, anchor=anchor, every=every):
            how = "prorated" if cancellation.prorate else "not prorated"
            return (
                f"{ends}. Its only invoice, on {last}, covers {last} to {day} ({how} for the "
                "cancellation)."
            )
        return f"{ends}. It starts on {contract.start} as planned; {_last_invoice(after, last)}"
    next_invoice = contract.next_invoice_date
    if next_invoice is None:
        return f"{ends}."
    if day < next_invoice:
        credit = _line(lifecycle.next_regular_step(after).invoice, LineKind.PRORATION_CREDIT)
        if credit is None:
            return (
                f"{ends}. The period up to {next_invoice} is already billed; nothing is credited."
            )
        return (
            f"{ends}. A proration credit of {money(-credit.amount, contract)} for "
            f"{credit.period_start} to {credit.period_end} ({_days(credit)} of "
            f"{_period_days(contract, credit.period_start)} days) will be issued on {day}."
        )
    if day == next_invoice:
        return f"{ends}, its next invoice date: no further invoice is issued, nothing is credited."
    last = period_containing(day - _DAY, anchor=anchor, every=every)[0]
    return f"{ends}. Invoicing continues; {_last_invoice(after, last)}"


def _last_invoice(contract: Contract, last: date) -> str:
    """The last invoice of `contract` (cancelled), on `last`, a period boundary before its end."""
    cancellation = contract.cancellation
    assert cancellation is not None
    day = cancellation.date
    if last != contract.start and frozen_on(contract, last) is not None:  # R17: bills nothing
        return f"the last period, {last} to {day}, is frozen: nothing is invoiced for it."
    line = _plan_line(lifecycle.invoice_on(contract, last))
    amount = money(line.amount, contract)
    covers = f"the last invoice, on {last}, covers {last} to {day}"
    _, period_end = period_containing(last, anchor=contract.anchor, every=contract.plan.every)
    if day == period_end:
        return f"{covers}, a full period: {amount}."
    if not cancellation.prorate:  # R7: its line covers, and charges, the whole period
        return (
            f"the last invoice, on {last}, covers the whole period {line.period_start} to "
            f"{line.period_end} (service ends on {day}) at the full price, not prorated: {amount}."
        )
    return f"{covers}, prorated ({_days(line)} of {_period_days(contract, last)} days): {amount}."


def uncancelled(
    contract: Contract, cancellation: Cancellation, invoice: InvoiceDraft | None
) -> str:
    """The undo of `cancellation` on `contract`, with the days cut off that `invoice` bills now."""
    resumes = (
        f"starts on {contract.start}"
        if contract.status is ContractStatus.INACTIVE
        else f"is invoiced as usual on {contract.next_invoice_date}"
    )
    effect = (
        f"Undid the {cancellation_text(cancellation)}: contract {contract.id} continues and "
        f"{resumes}."
    )
    line = _line(invoice, LineKind.PLAN)
    if invoice is not None and line is not None:
        effect += (
            f" Its last invoice was cut at {line.period_start} with proration, so "
            f"{line.period_start} to {line.period_end} is invoiced today, {invoice.issue_date}: "
            f"{money(line.amount, contract)}."
        )
    return effect


# --- R8, R9, R13: new term ------------------------------------------------------------------------


def new_term_effect(old: Contract, contract: Contract, deposit_held: Decimal | None) -> str:
    """The new term and its first invoice, as the lifecycle issues it on its start (R8, R9)."""
    first = lifecycle.invoice_on(contract, contract.start)
    custom = " (custom price)" if contract.custom_price else ""
    return (
        f"New term {contract.id} replaces contract {old.id} for customer {contract.customer_id}: "
        f"plan {contract.plan.code} at {money(contract.price, contract)}{custom} every "
        f"{contract.plan.every}, billing anchored on {contract.anchor}. It starts on "
        f"{contract.start}; {_first_invoice(contract, first)}. "
        + _deposit(old, contract, first, deposit_held)
    )


def _first_invoice(contract: Contract, invoice: InvoiceDraft) -> str:
    """R8: the first invoice covers `[start, next aligned date)`, a stub unless start is aligned."""
    start, line = contract.start, _plan_line(invoice)
    amount = money(line.amount, contract)
    head = f"its first invoice, on {start}, covers {start} to {line.period_end}"
    if is_boundary(start, anchor=contract.anchor, every=contract.plan.every):
        return f"{head}, a full period: {amount}"
    if not contract.prorate_first_invoice:
        return f"{head} at the full price, not prorated: {amount}"
    return f"{head}, prorated ({_days(line)} of {_period_days(contract, start)} days): {amount}"


def _deposit(old: Contract, contract: Contract, first: InvoiceDraft, held: Decimal | None) -> str:
    """R9, R13: the old contract's deposit passes on while it holds one; else it is charged. What
    the first invoice charges is the `deposit` line the ledger writes for `first.deposit_due`."""
    if held is None:
        return f"The deposit held by contract {old.id} passes to it."
    charge = deposits.first_invoice_deposit(required=first.deposit_due, inherited=held).charge
    if held > 0:
        top_up = (
            f"; its first invoice charges the top-up of {money(charge, contract)}"
            if charge > 0
            else ""
        )
        return (
            f"Contract {old.id} still holds a deposit of {money(held, contract)}, which passes "
            f"to it{top_up}."
        )
    if first.deposit_due > 0:
        return (
            f"Contract {old.id} holds no deposit any more (refunded when it ended, or never "
            f"charged): the first invoice charges plan {contract.plan.code}'s deposit of "
            f"{money(charge, contract)} in full."
        )
    return f"Plan {contract.plan.code} has no deposit."


def new_term_warnings(
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
            f"The price {money(contract.price, contract)} differs from plan "
            f"{contract.plan.code}'s {money(contract.plan.price, contract)}: a custom price "
            f"rules out automated plan changes later ({command(Cli.CHANGE)})."
        )
    return tuple(warnings)


# --- R17: freezes; R18: scheduled prices ---------------------------------------------------------


def price_cleared(contract: Contract) -> str:
    scheduled = contract.scheduled_price
    assert scheduled is not None
    return (
        f"Cleared the price change to {money(scheduled.price, contract)} from "
        f"{scheduled.effective} on contract {contract.id}: it stays at "
        f"{money(contract.price, contract)}."
    )


def price_scheduled(contract: Contract, after: Contract, replaced: Decimal | None) -> str:
    scheduled = after.scheduled_price
    assert scheduled is not None
    if scheduled.plan_price:
        custom = f"plan {contract.plan.code}'s new price"
    elif scheduled.price != contract.plan.price:
        custom = "a custom price"
    else:
        custom = f"plan {contract.plan.code}'s price"
    effect = (
        f"Contract {contract.id} is invoiced at {money(scheduled.price, contract)} ({custom}) "
        f"from its invoice date {scheduled.effective} on, instead of "
        f"{money(contract.price, contract)}; nothing is prorated."
    )
    if replaced is not None:
        effect += f" This replaces the scheduled price of {money(replaced, contract)}."
    return effect


def next_term_repriced(contract: Contract, change: ScheduledChange, price: Decimal) -> str:
    assert change.next_plan is not None
    return (
        f"Contract {contract.id}'s change to plan {change.next_plan.code} on "
        f"{contract.next_invoice_date} starts the next term at the plan's new price of "
        f"{money(price, contract)}, instead of {money(change.next_plan.price, contract)}."
    )


def grandfathered(contract: Contract, price: Decimal) -> str:
    return (
        f"Contract {contract.id} keeps its price of {money(contract.price, contract)}, now a "
        f"custom price: plan {contract.plan.code}'s new price of {money(price, contract)} applies "
        "to contracts created from now on."
    )


def frozen(contract: Contract, after: Contract) -> str:
    freeze = after.freezes[-1]
    moved = ""
    if after.commitment_end != contract.commitment_end:
        moved = (
            f" The commitment end moves from {contract.commitment_end} to {after.commitment_end}."
        )
    return (
        f"Contract {contract.id} is frozen for {freeze.cycles} cycle"
        f"{'s' if freeze.cycles != 1 else ''}, {freeze.start} to {freeze.end}: no plan line is "
        f"invoiced for those periods, its invoice dates do not move, and its deposit stays "
        f"held. Invoicing resumes on {freeze.end}.{moved}"
    )


def unfrozen(contract: Contract, after: Contract) -> str:
    before = contract.freezes[-1]
    if len(after.freezes) < len(contract.freezes):
        head = (
            f"The freeze of contract {contract.id} from {before.start} is cancelled before it "
            f"began: it is invoiced as usual on {before.start}."
        )
    else:
        end = after.freezes[-1].end
        head = (
            f"The freeze of contract {contract.id} ends on {end} instead of {before.end}: it is "
            f"invoiced again from {end}."
        )
    if after.commitment_end != contract.commitment_end:
        head += f" The commitment end moves back to {after.commitment_end}."
    return head
