"""R20, checked: every served day is billed exactly once, each line at the amount the rules give it.

`check_contract` takes a contract's terms and the invoice lines stored for it and returns every
violation — days billed by no line (a gap), days billed twice or past the end (an overlap), credits
for days never charged, and lines whose amount is not what R4, R7 and R8 give their span — each
with its days and the money involved. `check_deposits` does the same for a customer's deposit. The
tests and `termshift reconcile` use these two functions and nothing else, so the rule lives here.

What a contract must have billed (its *served span*): from its start to its end once it ended;
while it runs, to its next invoice date, or to its cancellation date when that comes first (the
last invoice was cut there). A line covers `[period_start, period_end)`; a plan line counts +1 on
each of its days, a proration credit -1. Every served day must count exactly 1 and every other
day 0 — except past the end of a cancelled contract, where a period billed before the end may
stand: charged whole when the cancellation is not prorated, or until its credit is issued on the
cancellation date when it is (R7).
"""

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

from pydantic import BaseModel, ConfigDict

from billing.contract import Contract, ContractStatus, InvoiceLine, LineKind
from billing.money import format_money
from billing.periods import period_containing
from billing.proration import prorate, prorate_span


class ViolationKind(StrEnum):
    GAP = "gap"
    """Served days that no line bills: money not charged."""
    OVERLAP = "overlap"
    """Days billed more than once, or past the end by a line not charged in full."""
    UNCHARGED_CREDIT = "uncharged credit"
    """Days credited that no line charged."""
    WRONG_AMOUNT = "wrong amount"
    """A line whose amount is not what the rules give its span."""
    DEPOSIT = "deposit"
    """A customer's held deposit differs from what was charged less what was refunded."""


class Violation(BaseModel):
    """One breach of R20: where, how many days, and the money involved."""

    model_config = ConfigDict(frozen=True)

    kind: ViolationKind
    contract_id: str | None
    """None for a customer's deposit."""
    customer_id: str
    start: date | None = None
    end: date | None = None
    """The days `[start, end)` concerned (None for a deposit)."""
    amount: Decimal
    """The money involved: unbilled (gap), billed in excess (overlap, credit, amount)."""
    currency: str
    detail: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days if self.start and self.end else 0


def served_span(contract: Contract) -> tuple[date, date] | None:
    """The days `[start, end)` that the contract's lines must bill by now; None before it starts."""
    if contract.status is ContractStatus.CANCELLED:
        end = contract.end if contract.end is not None else contract.start
        return (contract.start, max(end, contract.start))
    if contract.status is ContractStatus.INACTIVE or contract.next_invoice_date is None:
        return None
    end = contract.next_invoice_date
    if contract.cancellation is not None:
        end = min(end, max(contract.cancellation.date, contract.start))
    return (contract.start, end)


def value_of_days(contract: Contract, start: date, end: date) -> Decimal:
    """What the days `[start, end)` are worth at the contract's price, period by period (R4)."""
    return prorate_span(
        contract.price,
        anchor=contract.anchor,
        every=contract.plan.every,
        start=start,
        end=end,
        currency=contract.currency,
    )


def check_contract(contract: Contract, lines: Iterable[InvoiceLine]) -> list[Violation]:
    """Every violation of R20 by the contract's stored `plan`, `proration_credit` and
    `early_termination` lines."""
    lines = list(lines)
    billing = [line for line in lines if line.kind in (LineKind.PLAN, LineKind.PRORATION_CREDIT)]
    span = served_span(contract)
    violations = [
        violation
        for line in billing
        if (violation := _check_amount(contract, line, span)) is not None
    ]
    violations += _check_days(contract, billing, span)
    violations += [
        violation
        for line in lines
        if line.kind is LineKind.EARLY_TERMINATION
        and (violation := _check_early_termination(contract, line)) is not None
    ]
    return sorted(violations, key=lambda v: (v.start or date.min, v.kind.value))


def check_deposits(
    *,
    customer_id: str,
    currency: str,
    deposit_lines: Iterable[InvoiceLine],
    held: Decimal,
) -> Violation | None:
    """R20's deposit clause: what the customer holds (the ledger) equals what its invoices charged
    as deposits less what they refunded."""
    invoiced = sum(
        (
            line.amount
            for line in deposit_lines
            if line.kind in (LineKind.DEPOSIT, LineKind.DEPOSIT_REFUND)
        ),
        Decimal(0),
    )
    if invoiced == held:
        return None
    return Violation(
        kind=ViolationKind.DEPOSIT,
        contract_id=None,
        customer_id=customer_id,
        amount=held - invoiced,
        currency=currency,
        detail=f"Holds a deposit of {format_money(held, currency)}, but its invoices charged "
        f"{format_money(invoiced, currency)} net of refunds.",
    )


# --- amounts -------------------------------------------------------------------------------------


def _check_amount(
    contract: Contract, line: InvoiceLine, span: tuple[date, date] | None
) -> Violation | None:
    start, end = line.period_start, line.period_end
    period_start, period_end = period_containing(
        start, anchor=contract.anchor, every=contract.plan.every
    )
    if end <= start or end > period_end:
        return _violation(
            contract,
            ViolationKind.WRONG_AMOUNT,
            start,
            end,
            abs(line.amount),
            f"The {line.kind.value} line for {start} to {end} does not lie within one billing "
            f"period ({period_start} to {period_end}).",
        )
    price = contract.price_on(period_start)
    prorated = prorate(
        price,
        period_start=period_start,
        period_end=period_end,
        start=start,
        end=end,
        currency=contract.currency,
    )
    if line.kind is LineKind.PRORATION_CREDIT:
        allowed = {-prorated}
    else:
        allowed = {prorated}
        # Charged in full without proration (R7, R8): a first stub, or a last period cut at the end.
        served_end = span[1] if span is not None else None
        if (start in (period_start, contract.start)) and (end in (period_end, served_end)):
            allowed.add(price)
    if line.amount in allowed:
        return None
    expected = min(allowed, key=lambda amount: abs(amount - line.amount))
    money = contract.currency
    return _violation(
        contract,
        ViolationKind.WRONG_AMOUNT,
        start,
        end,
        line.amount - expected,
        f"The {line.kind.value} line for {start} to {end} is {format_money(line.amount, money)}; "
        f"the rules give {format_money(expected, money)}.",
    )


def _check_early_termination(contract: Contract, line: InvoiceLine) -> Violation | None:
    """R15: the line charges the committed days from where billing stopped to the commitment
    end, at the contract's price, period by period."""
    start, end = line.period_start, line.period_end
    commitment = contract.commitment_end
    expected = value_of_days(contract, start, end) if end > start else Decimal(0)
    if end == commitment and line.amount == expected:
        return None
    money = contract.currency
    reach = "" if end == commitment else f", but the commitment ends on {commitment}"
    return _violation(
        contract,
        ViolationKind.WRONG_AMOUNT,
        start,
        end,
        line.amount - expected,
        f"The early_termination line for {start} to {end} is "
        f"{format_money(line.amount, money)}{reach}; the committed days are worth "
        f"{format_money(expected, money)}.",
    )


# --- days ----------------------------------------------------------------------------------------


def _check_days(
    contract: Contract, lines: Sequence[InvoiceLine], span: tuple[date, date] | None
) -> list[Violation]:
    """Sweep the days: the count of each segment between line edges against what it must be."""
    deltas: dict[date, int] = {}
    for line in lines:
        sign = 1 if line.kind is LineKind.PLAN else -1
        deltas[line.period_start] = deltas.get(line.period_start, 0) + sign
        deltas[line.period_end] = deltas.get(line.period_end, 0) - sign
    edges = set(deltas) | (set(span) if span is not None else set())
    edges |= {day for freeze in contract.freezes for day in (freeze.start, freeze.end)}
    found: list[tuple[ViolationKind, date, date, int]] = []
    count = 0
    for start, end in pairwise(sorted(edges)):
        count += deltas.get(start, 0)
        kind = _segment_fault(contract, count, span, start)
        if kind is None:
            continue
        served = span is not None and span[0] <= start < span[1]
        excess = count - 1 if served else count
        if found and found[-1][0] is kind and found[-1][2] == start and found[-1][3] == excess:
            found[-1] = (kind, found[-1][1], end, excess)
        else:
            found.append((kind, start, end, excess))
    return [
        _day_violation(contract, kind, start, end, excess) for kind, start, end, excess in found
    ]


def _segment_fault(
    contract: Contract,
    count: int,
    span: tuple[date, date] | None,
    day: date,
) -> ViolationKind | None:
    """What is wrong with the days from `day` to the next edge, billed `count` times net."""
    if count < 0:
        return ViolationKind.UNCHARGED_CREDIT
    if span is not None and span[0] <= day < span[1]:
        if any(freeze.start <= day < freeze.end for freeze in contract.freezes):
            return None if count == 0 else ViolationKind.OVERLAP  # frozen (R17): unbilled
        return {0: ViolationKind.GAP, 1: None}.get(count, ViolationKind.OVERLAP)
    if count == 0:
        return None
    if count == 1 and _paid_past_end(contract, span, day):
        return None
    return ViolationKind.OVERLAP


def _paid_past_end(contract: Contract, span: tuple[date, date] | None, day: date) -> bool:
    """Whether `day`, past the served span, may be billed once: it lies in the period billed
    last, which a cancellation cut short (R7), and
    - the cancellation is not prorated: that period is charged whole, or
    - the contract still runs: the credit for the days after the cancellation date comes on
      that date, so until then the period billed before the cancellation stands.
    """
    cancellation = contract.cancellation
    if span is None or cancellation is None or contract.billed_from is None or day < span[1]:
        return False
    if cancellation.prorate and contract.status is not ContractStatus.ACTIVE:
        return False
    _, period_end = period_containing(
        contract.billed_from, anchor=contract.anchor, every=contract.plan.every
    )
    return contract.billed_from <= span[1] and day < period_end


def _day_violation(
    contract: Contract, kind: ViolationKind, start: date, end: date, excess: int
) -> Violation:
    worth = value_of_days(contract, start, end)
    days = (end - start).days
    money = contract.currency
    if kind is ViolationKind.GAP:
        return _violation(
            contract,
            kind,
            start,
            end,
            worth,
            f"{days} served day(s), {start} to {end}, are billed by no line: "
            f"{format_money(worth, money)} not charged.",
        )
    if kind is ViolationKind.UNCHARGED_CREDIT:
        return _violation(
            contract,
            kind,
            start,
            end,
            worth * abs(excess),
            f"{days} day(s), {start} to {end}, are credited but were not charged: "
            f"{format_money(worth * abs(excess), money)} credited in excess.",
        )
    times = "once" if excess == 1 else f"{excess} times"
    return _violation(
        contract,
        kind,
        start,
        end,
        worth * excess,
        f"{days} day(s), {start} to {end}, are billed {times} more than they are served: "
        f"{format_money(worth * excess, money)} charged in excess.",
    )


def _violation(
    contract: Contract,
    kind: ViolationKind,
    start: date,
    end: date,
    amount: Decimal,
    detail: str,
) -> Violation:
    return Violation(
        kind=kind,
        contract_id=contract.id,
        customer_id=contract.customer_id,
        start=start,
        end=end,
        amount=amount,
        currency=contract.currency,
        detail=detail,
    )
