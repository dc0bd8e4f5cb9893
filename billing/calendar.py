"""Local dates (R3): an invoice date fires at 00:00 in the location's timezone."""

import re
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from billing.errors import BillingError, InvalidTimezoneError

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FIXED_OFFSET = re.compile(r"UTC([+-])([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?")

TZDATA = resources.files("tzdata") / "zoneinfo"
"""The time-zone rules every machine uses: the `tzdata` package pinned in pyproject.toml, never
the host's database, so that a workflow replayed after an operating-system update computes the
same instants (its local midnights decide its timers)."""


@cache
def _tzdata_names() -> frozenset[str]:
    return frozenset((resources.files("tzdata") / "zones").read_text(encoding="utf-8").split())


@cache
def zone(name: str) -> tzinfo:
    """The timezone `name`, or `InvalidTimezoneError`.

    An IANA name (Europe/Berlin) is read from the pinned `tzdata` package. A fixed offset from
    UTC written `UTC+05:30` (or `UTC-03:00`, `UTC+05:17:23`) is a zone without daylight saving.
    """
    fixed = _FIXED_OFFSET.fullmatch(name)
    if fixed is not None:
        sign, hours, minutes, seconds = fixed.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0))
        if offset < timedelta(hours=24) and int(minutes) < 60 and int(seconds or 0) < 60:
            return timezone(-offset if sign == "-" else offset, name)
    elif name in _tzdata_names():
        with TZDATA.joinpath(*name.split("/")).open("rb") as rules:
            return ZoneInfo.from_file(rules, key=name)
    raise InvalidTimezoneError(
        f"Unknown timezone {name!r}: use an IANA name such as Europe/Berlin or "
        "America/New_York, or a fixed offset such as UTC+05:30."
    )


def fixed_offset(seconds_east: int) -> str:
    """The name of the fixed-offset zone `seconds_east` of UTC: 19800 → "UTC+05:30"."""
    sign = "-" if seconds_east < 0 else "+"
    hours, rest = divmod(abs(seconds_east), 3600)
    minutes, seconds = divmod(rest, 60)
    name = f"UTC{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")
    zone(name)
    return name


def local_midnight(day: date, timezone: str) -> datetime:
    """The UTC instant at which `day` begins in `timezone` (the first instant of that date)."""
    tz = zone(timezone)
    instant = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    # Where midnight does not exist (a DST jump at 00:00) the day begins at the jump.
    if instant.astimezone(tz).date() < day:
        instant = datetime.combine(day, time(1), tzinfo=tz).astimezone(UTC)
    return instant


def local_date(instant: datetime, timezone: str) -> date:
    """The local date in `timezone` at the UTC instant `instant`."""
    return instant.astimezone(zone(timezone)).date()


def local_noon(day: date, timezone: str) -> datetime:
    """12:00 local time on `day`, as a UTC instant (when the simulator sends its commands)."""
    return datetime.combine(day, time(12), tzinfo=zone(timezone)).astimezone(UTC)


def read_iso_date(value: object) -> date:
    """A date written as YYYY-MM-DD, and only so (not 20270115, 2027-W03-5, other digits or a
    time of day); a `date` passes as it is. Else `BillingError`, which says how to write it."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = value if isinstance(value, str) else repr(value)
    try:
        if not isinstance(value, str) or _ISO_DATE.fullmatch(value) is None:
            raise ValueError(text)
        return date.fromisoformat(value)
    except ValueError:
        shown = text if len(text) <= 80 else f"{text[:80]}… ({len(text)} characters)"
        raise BillingError(f"{shown!r} is not a date: write it as YYYY-MM-DD.") from None
