"""The dates a contract's terms add to its life (§3b): the "renewal upcoming" notice and the
renewal of a commitment (R16), and the periods a freeze leaves unbilled (R17).

`billing.lifecycle` wakes the contract on these dates as on its invoice dates, and asks here what
they change.
"""

from datetime import date

from billing.cadence import parse_cadence
from billing.contract import Cancellation, Command, Contract, ContractStatus, Freeze
from billing.periods import period_containing
from billing.terms import Renewal, Span, SpanUnit, earliest_notice_date, parse_span

RENEWAL_NOTICE_WITHOUT_NOTICE = Span(count=30, unit=SpanUnit.DAY)
"""R16: without a notice period, "renewal upcoming" is recorded this long before the commitment
end."""
END_OF_TERM = Command(actor="termshift", reason="end of term (renewal: end)")
"""Who ends a contract whose renewal is `end` (R16)."""


# --- R16: renewal ---------------------------------------------------------------------------------


def _ends_by(contract: Contract, day: date) -> bool:
    """Whether the contract is set to end (or switch) on or before `day`."""
    cancellation = contract.cancellation
    if cancellation is not None and cancellation.date <= day:
        return True
    change = contract.scheduled_change
    nid = contract.next_invoice_date
    return change is not None and nid is not None and nid <= day


def renewal_notice_date(contract: Contract) -> date | None:
    """R16: when "renewal upcoming" is recorded for the current commitment end: the notice
    period before it, or 30 days without one (not before the start); None when there is none
    to record (rolling renewal, no commitment, recorded already, or the contract ends first)."""
    commitment = contract.commitment_end
    if (
        contract.status is ContractStatus.CANCELLED
        or commitment is None
        or contract.terms.renewal is Renewal.ROLLING
        or contract.renewal_noticed == commitment
        or _ends_by(contract, commitment)
        or (contract.terms.renewal is Renewal.RENEW and contract.cancellation is not None)
    ):
        return None
    notice = parse_span(contract.terms.notice) if contract.terms.notice else None
    before = (notice or RENEWAL_NOTICE_WITHOUT_NOTICE).before(commitment)
    return max(before, contract.start)


def renewal_date(contract: Contract) -> date | None:
    """R16, `renew`: the commitment end, when a new commitment of the same length begins; None
    when the member leaves (a cancellation on any date: nothing renews after it)."""
    commitment = contract.commitment_end
    if (
        contract.status is ContractStatus.CANCELLED
        or commitment is None
        or contract.terms.renewal is not Renewal.RENEW
        or not contract.terms.minimum_term
        or contract.cancellation is not None
        or _ends_by(contract, commitment)
    ):
        return None
    return commitment


def end_of_term_date(contract: Contract) -> date | None:
    """R16, `end`: the commitment end, on which the contract ends; None when it has no
    commitment, renews or rolls on, or ends (or switches) otherwise before."""
    commitment = contract.commitment_end
    if (
        contract.status is ContractStatus.CANCELLED
        or commitment is None
        or contract.terms.renewal is not Renewal.END
    ):
        return None
    if contract.cancellation is not None:
        return commitment if contract.cancellation.requested == END_OF_TERM else None
    return None if _ends_by(contract, commitment) else commitment


# --- R14, R15: when a cancellation may fall ------------------------------------------------------


def earliest_cancellation_date(contract: Contract, today: date) -> date | None:
    """R14, R15: the first date a cancellation requested on `today` may have without passing a
    term or charging the committed days — the notice period from `today` or the commitment end,
    whichever is later (and not before the start); None when no term stands in the way, when
    the contract is set to end or switch already, or once it has ended."""
    if (
        contract.status is ContractStatus.CANCELLED
        or contract.cancellation is not None
        or contract.scheduled_change is not None
    ):
        return None
    limits = [
        day
        for day in (earliest_notice_date(contract.terms, today), contract.commitment_end)
        if day is not None and day > today
    ]
    return max(*limits, contract.start) if limits else None


def _end_of_term_note(contract: Contract, commitment: date) -> str:
    """R16, `end`: "renewal upcoming" in words — the contract ends on its commitment end, unless
    an admin already set it to end or switch later, which then stands."""
    cancellation, change = contract.cancellation, contract.scheduled_change
    nid = contract.next_invoice_date
    if cancellation is not None:
        return (
            f"Renewal upcoming: its term ends on {commitment} (renewal: end); the contract ends "
            f"on {cancellation.date} instead, as cancelled by {cancellation.requested.actor}."
        )
    if change is not None and change.next_plan is not None:
        return (
            f"Renewal upcoming: its term ends on {commitment} (renewal: end); the contract "
            f"switches to plan {change.next_plan.code} on {nid} instead, as scheduled."
        )
    if change is not None:
        return (
            f"Renewal upcoming: its term ends on {commitment} (renewal: end); the contract ends "
            f"on {nid} instead, its next invoice date, as scheduled."
        )
    return (
        f"Renewal upcoming: the contract ends on {commitment}, the end of its term (renewal: end)."
    )


def term_events(contract: Contract, day: date) -> tuple[Contract, list[str]]:
    """R16 on `day`: record "renewal upcoming", renew the commitment, or set the end of term."""
    notes: list[str] = []
    commitment = contract.commitment_end
    if commitment is not None and renewal_notice_date(contract) == day:
        update: dict[str, object] = {"renewal_noticed": commitment}
        if contract.terms.renewal is Renewal.RENEW:
            term = parse_span(contract.terms.minimum_term or "")
            notes.append(
                f"Renewal upcoming: the commitment ends on {commitment} and renews until "
                f"{term.after(commitment)}."
            )
        else:
            notes.append(_end_of_term_note(contract, commitment))
            if contract.cancellation is None and contract.scheduled_change is None:
                update["cancellation"] = Cancellation(
                    date=commitment, prorate=False, requested=END_OF_TERM
                )
        contract = contract.model_copy(update=update)
    if commitment is not None and renewal_date(contract) == day:
        renewed = parse_span(contract.terms.minimum_term or "").after(commitment)
        contract = contract.model_copy(update={"commitment_end": renewed})
        notes.append(f"Renewed: committed until {renewed}.")
    return contract, notes


# --- R17: freezes ---------------------------------------------------------------------------------


def current_freeze(contract: Contract) -> Freeze | None:
    """The freeze scheduled or running: the last one, while invoice dates of it are ahead."""
    if not contract.freezes or contract.status is not ContractStatus.ACTIVE:
        return None
    last = contract.freezes[-1]
    nid = contract.next_invoice_date
    return last if nid is not None and nid < last.end else None


def freeze_status(contract: Contract) -> str | None:
    """`scheduled` while the last freeze's first invoice date is ahead, `running` from it until the
    invoice date that bills again, else None (R17; what the UI's search attribute says)."""
    nid = contract.next_invoice_date
    if not contract.freezes or contract.status is not ContractStatus.ACTIVE or nid is None:
        return None
    last = contract.freezes[-1]
    if nid <= last.start:
        return "scheduled"
    return "running" if nid <= last.end else None


def frozen_on(contract: Contract, day: date) -> Freeze | None:
    """The freeze whose periods include the invoice date `day`, if any."""
    return next((f for f in contract.freezes if f.start <= day < f.end), None)


def shift_by_cycles(day: date, contract: Contract, cycles: int) -> date:
    """`day` moved by `cycles` billing cycles of the contract's plan (R17: a commitment end
    moves later by the cycles frozen)."""
    cadence = parse_cadence(contract.plan.every)
    return Span(count=cycles * cadence.count, unit=SpanUnit(cadence.unit.value)).after(day)


def freeze_end(contract: Contract, start: date, cycles: int) -> date:
    """The invoice date `cycles` periods after the invoice date `start` (R2: no drift)."""
    day = start
    for _ in range(cycles):
        day = period_containing(day, anchor=contract.anchor, every=contract.plan.every)[1]
    return day
