"""Cadences: how often a plan bills — every N weeks, months or years."""

import functools
import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from billing.errors import InvalidCadenceError

_ACCEPTED = '"1 month", "3 months", "1 week", "2 weeks" or "1 year"'
_PATTERN = re.compile(r"^\s*(\d{1,3})\s+(week|month|year)s?\s*$", re.IGNORECASE)


class CadenceUnit(StrEnum):
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Cadence(BaseModel):
    """Every `count` `unit`s, e.g. every 3 months."""

    model_config = ConfigDict(frozen=True)

    count: int = Field(ge=1, le=120)
    unit: CadenceUnit

    def __str__(self) -> str:
        return f"{self.count} {self.unit.value}{'' if self.count == 1 else 's'}"


MONTHLY = Cadence(count=1, unit=CadenceUnit.MONTH)


def parse_cadence(text: "str | Cadence") -> Cadence:
    """Parse `"1 month"`, `"3 months"`, `"1 week"`, `"2 weeks"`, `"1 year"` and the like."""
    if isinstance(text, Cadence):
        return text
    if not isinstance(text, str):
        raise _unknown(text)
    return _parse(text)


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> Cadence:
    """A plan's few cadences are parsed on every billing date: once each is enough (a cadence
    is immutable; a refusal is raised each time, never kept)."""
    match = _PATTERN.match(text)
    if match is None or not 1 <= int(match.group(1)) <= 120:
        raise _unknown(text)
    return Cadence(count=int(match.group(1)), unit=CadenceUnit(match.group(2).lower()))


def _unknown(text: object) -> InvalidCadenceError:
    return InvalidCadenceError(
        f"Unknown billing cadence {text!r}: write a count (1 to 120) and a unit, "
        f"for example {_ACCEPTED}."
    )
