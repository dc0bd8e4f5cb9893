"""Contract terms (§3b): spans, the notice period (R14), the minimum term (R15) and renewal (R16).

A span is written as a count and a unit — "30 days", "2 weeks", "1 month", "12 months", "1 year" —
and is added to a date as R2 adds periods: months and years keep the day of the month, clamped to
the month's length (31 Jan + 1 month = 28 Feb). A plan carries `Terms`; a contract carries its own,
the plan's with whatever was given for the contract in their place (`Terms.overridden_by`).
"""

import calendar
import functools
import re
from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from billing.errors import BillingError

_SPAN = re.compile(r"^\s*(\d{1,4})\s+(day|week|month|year)s?\s*$", re.IGNORECASE)
_SPAN_EXAMPLES = '"30 days", "2 weeks", "1 month", "12 months" or "1 year"'
MAX_SPAN_DAYS = 3660
"""A term is at most about ten years."""


class InvalidSpanError(BillingError):
    """A notice period or minimum term that is not a count and a unit."""


class SpanUnit(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Span(BaseModel):
    """`count` `unit`s: 30 days, 12 months."""

    model_config = ConfigDict(frozen=True)

    count: int = Field(ge=1)
    unit: SpanUnit

    def __str__(self) -> str:
        return f"{self.count} {self.unit.value}{'' if self.count == 1 else 's'}"

    def after(self, day: date) -> date:
        """`day` moved forward by the span (months and years clamp the day of the month, R2)."""
        return _moved(day, self.count, self.unit)

    def before(self, day: date) -> date:
        """`day` moved back by the span."""
        return _moved(day, -self.count, self.unit)


def _moved(day: date, count: int, unit: SpanUnit) -> date:
    if unit is SpanUnit.DAY:
        return day + timedelta(days=count)
    if unit is SpanUnit.WEEK:
        return day + timedelta(weeks=count)
    months = count * (12 if unit is SpanUnit.YEAR else 1)
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def parse_span(text: "str | Span") -> Span:
    """Parse "30 days", "2 weeks", "1 month", "12 months", "1 year" and the like."""
    if isinstance(text, Span):
        return text
    if not isinstance(text, str):
        raise _invalid(text)
    return _parse(text)


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> Span:
    match = _SPAN.match(text)
    count = int(match.group(1)) if match is not None else 0
    if match is None or count < 1:
        raise _invalid(text)
    span = Span(count=count, unit=SpanUnit(match.group(2).lower()))
    reference = date(2000, 1, 1)
    if (span.after(reference) - reference).days > MAX_SPAN_DAYS:
        raise _invalid(text)
    return span


def _invalid(text: object) -> InvalidSpanError:
    return InvalidSpanError(
        f"Unknown span {text!r}: write a count and a unit, for example {_SPAN_EXAMPLES} "
        "(at most ten years)."
    )


def _span_text(value: str) -> str:
    return str(parse_span(value))


SpanText = Annotated[str, AfterValidator(_span_text)]
"""A span, stored as written back by `Span` ("12 months")."""


class Renewal(StrEnum):
    """What happens at the end of a minimum term (R16)."""

    ROLLING = "rolling"
    """The contract continues with no commitment (the default)."""
    RENEW = "renew"
    """A new commitment of the same length begins."""
    END = "end"
    """The contract ends on its commitment end."""


class Terms(BaseModel):
    """A plan's or a contract's terms; every one is optional, and none is the default."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    notice: SpanText | None = None
    """R14: a cancellation takes effect no sooner than this long after it is requested."""
    minimum_term: SpanText | None = None
    """R15: the commitment ends this long after the start."""
    renewal: Renewal = Renewal.ROLLING
    """R16: what happens at the commitment end."""
    max_freeze_cycles: int | None = Field(default=None, ge=1)
    """R17: the longest freeze, in billing cycles."""
    max_freezes_per_year: int | None = Field(default=None, ge=0)
    """R17: freezes that may start in any 365 days."""

    def overridden_by(self, **given: object) -> "Terms":
        """These terms with each term given (not None) in its place: a contract's terms from
        its plan's and the ones set for the contract."""
        chosen = {name: value for name, value in given.items() if value is not None}
        return Terms.model_validate({**self.model_dump(), **chosen})

    @property
    def any(self) -> bool:
        return self != Terms()

    def describe(self) -> str:
        """The terms in words, for `plans list` and `contracts show`: "notice 30 days, minimum
        term 12 months, renew"; "none" when there are none."""
        parts = []
        if self.notice:
            parts.append(f"notice {self.notice}")
        if self.minimum_term:
            parts.append(f"minimum term {self.minimum_term}")
            parts.append(f"then {self.renewal.value}")
        cycles, per_year = self.max_freeze_cycles, self.max_freezes_per_year
        if cycles is not None:
            parts.append(f"freezes of at most {cycles} cycle{'' if cycles == 1 else 's'}")
        if per_year is not None:
            parts.append(f"at most {per_year} freeze{'' if per_year == 1 else 's'} a year")
        return ", ".join(parts) or "none"


def commitment_end(start: date, terms: Terms, inherited: date | None = None) -> date | None:
    """R15: start + minimum term; a term that replaces another keeps `inherited` (the old
    commitment end) when that is later."""
    own = parse_span(terms.minimum_term).after(start) if terms.minimum_term else None
    ends = [day for day in (own, inherited) if day is not None]
    return max(ends) if ends else None


def earliest_notice_date(terms: Terms, today: date) -> date | None:
    """R14: the first date a cancellation requested `today` may take effect; None without
    notice."""
    return parse_span(terms.notice).after(today) if terms.notice else None
