"""The month-end instant of the benchmark: a real local 00:00, soon enough."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from billing.calendar import fixed_offset, local_date, local_midnight

ETC_ZONES = [f"Etc/GMT{offset:+d}" if offset else "Etc/GMT" for offset in range(-14, 13)]
MAX_ZONE_WAIT = 300.0
"""Seconds we accept to wait beyond the needed lead for a whole-hour Etc/GMT zone's midnight."""


@dataclass
class MonthEnd:
    timezone: str
    instant: datetime
    day: date
    custom_zone: bool


def choose_month_end(lead: float, max_zone_wait: float = MAX_ZONE_WAIT) -> MonthEnd:
    """The soonest local 00:00 at least `lead` seconds ahead: an Etc/GMT zone's next midnight when
    it comes within `max_zone_wait` seconds after that, else a fixed-offset zone
    (`UTC+hh:mm:ss`) whose midnight is exactly then."""
    now = datetime.now(UTC)
    earliest = now + timedelta(seconds=lead)
    best: MonthEnd | None = None
    for name in ETC_ZONES:
        day = local_date(earliest, name)
        instant = local_midnight(day, name)
        if instant < earliest:
            day += timedelta(days=1)
            instant = local_midnight(day, name)
        if best is None or instant < best.instant:
            best = MonthEnd(name, instant, day, custom_zone=False)
    assert best is not None
    if (best.instant - earliest).total_seconds() <= max_zone_wait:
        return best
    target = (earliest + timedelta(seconds=1)).replace(microsecond=0)
    seconds_of_day = target.hour * 3600 + target.minute * 60 + target.second
    offset = -seconds_of_day if seconds_of_day <= 12 * 3600 else 86400 - seconds_of_day
    name = fixed_offset(offset)
    day = local_date(target, name)
    assert local_midnight(day, name) == target
    return MonthEnd(name, target, day, custom_zone=True)
