"""Local dates (R3): an invoice date fires at 00:00 in the location's timezone."""

import re
from datetime import UTC, date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.errors import BillingError, InvalidTimezoneError

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA timezone `name`, or `InvalidTimezoneError`."""
    try:
        if not name or name != name.strip() or name.startswith(("/", ".")):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name such as "Europe" is a directory of the tz database, not a zone.
        raise InvalidTimezoneError(
            f"Unknown timezone {name!r}: use an IANA name such as Europe/Berlin or "
            "America/New_York."
        ) from None


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
