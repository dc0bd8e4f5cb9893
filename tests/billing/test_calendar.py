"""Local dates (R3): an invoice date begins at 00:00 in the location's timezone."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.calendar import local_date, local_midnight, local_noon, zone
from billing.errors import BillingError, InvalidTimezoneError


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timezone", "day", "instant"),
    [
        # Berlin: DST starts 2027-03-28 at 02:00, ends 2027-10-31 at 03:00.
        ("Europe/Berlin", date(2027, 3, 28), utc(2027, 3, 27, 23)),
        ("Europe/Berlin", date(2027, 3, 29), utc(2027, 3, 28, 22)),
        ("Europe/Berlin", date(2027, 10, 31), utc(2027, 10, 30, 22)),
        ("Europe/Berlin", date(2027, 11, 1), utc(2027, 10, 31, 23)),
        # New York: DST starts 2027-03-14, ends 2027-11-07, both at 02:00.
        ("America/New_York", date(2027, 3, 14), utc(2027, 3, 14, 5)),
        ("America/New_York", date(2027, 3, 15), utc(2027, 3, 15, 4)),
        ("America/New_York", date(2027, 11, 7), utc(2027, 11, 7, 4)),
        ("America/New_York", date(2027, 11, 8), utc(2027, 11, 8, 5)),
        # Auckland (southern hemisphere): DST ends 2027-04-04, starts 2027-09-26.
        ("Pacific/Auckland", date(2027, 4, 4), utc(2027, 4, 3, 11)),
        ("Pacific/Auckland", date(2027, 4, 5), utc(2027, 4, 4, 12)),
        ("Pacific/Auckland", date(2027, 9, 26), utc(2027, 9, 25, 12)),
        ("Pacific/Auckland", date(2027, 9, 27), utc(2027, 9, 26, 11)),
        # Santiago skips 00:00 → 01:00 on 2026-09-06: the day begins at the jump.
        ("America/Santiago", date(2026, 9, 6), utc(2026, 9, 6, 4)),
    ],
)
def test_local_midnight(timezone: str, day: date, instant: datetime) -> None:
    assert local_midnight(day, timezone) == instant
    assert local_date(instant, timezone) == day


ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Pacific/Auckland",
    "America/Santiago",
    "America/Havana",
    "Asia/Beirut",
    "Asia/Tokyo",
    "Australia/Lord_Howe",
    "UTC",
]


@settings(max_examples=200)
@given(
    timezone=st.sampled_from(ZONES),
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
)
def test_local_midnight_is_the_first_instant_of_the_local_date(timezone: str, day: date) -> None:
    instant = local_midnight(day, timezone)
    assert instant.tzinfo is not None
    assert local_date(instant, timezone) == day
    assert local_date(instant - timedelta(seconds=1), timezone) == day - timedelta(days=1)
    assert local_midnight(day, timezone) < local_noon(day, timezone)
    assert local_date(local_noon(day, timezone), timezone) == day


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus_Mons",
        "Europe",
        "europe/berlin",
        "",
        " Europe/Berlin",
        "/etc/localtime",
        "../x",
    ],
)
def test_unknown_timezone_is_refused(name: str) -> None:
    with pytest.raises(InvalidTimezoneError) as raised:
        zone(name)
    assert f"Unknown timezone {name!r}" in str(raised.value)
    assert "Europe/Berlin" in str(raised.value)
    assert isinstance(raised.value, BillingError)
    with pytest.raises(InvalidTimezoneError):
        local_midnight(date(2027, 1, 1), name)
