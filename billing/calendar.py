"""Local dates (R3): an invoice date fires at 00:00 in the location's timezone."""

from datetime import UTC, date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.errors import InvalidTimezoneError


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
