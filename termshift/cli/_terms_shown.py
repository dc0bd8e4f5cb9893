"""A contract's terms and the dates they set (§3b), as `contracts show` and `contracts preview`
list them: the terms in force, the commitment end, the earliest cancellation date, the renewal,
freezes and a scheduled price. The dates are the core's (`billing.terms`, `billing.term_dates`);
this module only says them, and only those that apply: a contract without terms reads as
before.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

from pydantic import BaseModel

from billing import term_dates
from billing.calendar import local_date
from billing.commands import Cli, command
from billing.contract import Contract
from billing.money import format_money
from billing.terms import earliest_notice_date


class FreezeShown(BaseModel):
    """A freeze (R17): the invoice dates in `[start, end)` issue no plan line."""

    start: date
    end: date
    cycles: int
    state: str
    """`scheduled`, `running` or `past`."""


class PriceShown(BaseModel):
    """A price change (R18): invoiced at `price` from the invoice date `effective` on."""

    price: Decimal
    effective: date


class TermsShown(BaseModel):
    """The terms in force and the dates they set on `today`; each is None (or empty) where it
    does not apply."""

    today: date
    """The location's date the dates below are computed for."""
    terms: str | None
    """The terms in words ("notice 1 month, minimum term 12 months, then renew"); None without
    terms."""
    commitment_end: date | None
    """R15: the first day after the minimum term."""
    earliest_notice_date: date | None
    """R14: the first date a cancellation requested today may take effect (while one may be
    requested)."""
    earliest_cancellation_date: date | None
    """R14, R15: the first date a cancellation requested today may have without
    `--override-terms` or `--charge-remaining-term`."""
    renewal_date: date | None
    """R16, renew: when a new commitment of the same length begins."""
    end_of_term_date: date | None
    """R16, end: when the contract ends with its commitment."""
    renewal_notice_date: date | None
    """R16: when "renewal upcoming" is recorded."""
    freezes: list[FreezeShown]
    scheduled_price: PriceShown | None


def terms_shown(contract: Contract, today: date | None = None) -> TermsShown:
    """What the contract's terms set, on `today` at its location (default: now)."""
    day = today or local_date(datetime.now(UTC), contract.timezone)
    earliest = term_dates.earliest_cancellation_date(contract, day)
    notice = None if earliest is None else earliest_notice_date(contract.terms, day)
    scheduled = contract.scheduled_price
    return TermsShown(
        today=day,
        terms=contract.terms.describe() if contract.terms.any else None,
        commitment_end=contract.commitment_end,
        earliest_notice_date=notice,
        earliest_cancellation_date=earliest,
        renewal_date=term_dates.renewal_date(contract),
        end_of_term_date=term_dates.end_of_term_date(contract),
        renewal_notice_date=term_dates.renewal_notice_date(contract),
        freezes=_freezes(contract),
        scheduled_price=None
        if scheduled is None
        else PriceShown(price=scheduled.price, effective=scheduled.effective),
    )


def _freezes(contract: Contract) -> list[FreezeShown]:
    last = term_dates.freeze_status(contract)
    return [
        FreezeShown(
            start=freeze.start,
            end=freeze.end,
            cycles=freeze.cycles,
            state=(last or "past") if number == len(contract.freezes) else "past",
        )
        for number, freeze in enumerate(contract.freezes, start=1)
    ]


def term_lines(contract: Contract, shown: TermsShown) -> list[tuple[str, str]]:
    """The lines that apply, as (label, text): nothing for a contract without terms, freezes or
    a scheduled price."""
    lines: list[tuple[str, str]] = []
    if shown.terms is not None:
        lines.append(("terms in force", shown.terms))
    if shown.commitment_end is not None:
        lines.append(("commitment end", str(shown.commitment_end)))
    earliest = shown.earliest_cancellation_date
    if earliest is not None:
        lines.append(("earliest cancellation", _earliest(contract, shown, earliest)))
    if shown.renewal_date is not None:
        renewal = f"renews on {shown.renewal_date} for {contract.terms.minimum_term}"
        lines.append(("renewal", renewal + _upcoming(shown)))
    if shown.end_of_term_date is not None:
        ends = f"ends on {shown.end_of_term_date}, the end of its term"
        lines.append(("renewal", ends + _upcoming(shown)))
    for freeze in shown.freezes:
        cycles = f"{freeze.cycles} cycle{'' if freeze.cycles == 1 else 's'}"
        lines.append(
            (
                "freeze",
                f"{freeze.start} to {freeze.end}, {cycles} ({freeze.state}): billed again "
                f"from {freeze.end}",
            )
        )
    if shown.scheduled_price is not None:
        price = shown.scheduled_price
        lines.append(
            (
                "scheduled price",
                f"{format_money(price.price, contract.currency)} from the invoice of "
                f"{price.effective} (now {format_money(contract.price, contract.currency)}); "
                f"undo with {command(Cli.CLEAR_CHANGE, contract.id)}",
            )
        )
    return lines


def _earliest(contract: Contract, shown: TermsShown, earliest: date) -> str:
    """The earliest cancellation date, and which term sets it."""
    notice = shown.earliest_notice_date
    commitment = shown.commitment_end
    if commitment is not None and earliest == commitment and commitment > shown.today:
        sooner = max(notice or shown.today, contract.start)
        charged = command(Cli.CANCEL, contract.id, date=sooner, charge_remaining_term=True)
        return f"{earliest} (commitment end); from {sooner} with {charged}"
    if notice is not None and earliest == notice:
        return f"{earliest} (notice {contract.terms.notice} from today, {shown.today})"
    return f"{earliest} (its start)"


def _upcoming(shown: TermsShown) -> str:
    notice = shown.renewal_notice_date
    return "" if notice is None else f"; renewal upcoming noted on {notice}"
