"""Local dates (R3): an invoice date begins at 00:00 in the location's timezone."""

import subprocess
import sys
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

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
        "UTC+24:00",
        "UTC+05:60",
        "UTC+5:30",
        "GMT+05:30",
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


@pytest.mark.parametrize(
    ("name", "day", "instant"),
    [
        ("UTC+05:30", date(2027, 1, 15), utc(2027, 1, 14, 18, 30)),
        ("UTC-03:00", date(2027, 7, 1), utc(2027, 7, 1, 3)),
        ("UTC+05:17:23", date(2027, 1, 15), utc(2027, 1, 14, 18, 42, 37)),
        ("UTC+00:00", date(2027, 1, 15), utc(2027, 1, 15)),
    ],
)
def test_a_fixed_offset_is_a_zone_without_daylight_saving(
    name: str, day: date, instant: datetime
) -> None:
    assert local_midnight(day, name) == instant
    assert local_date(instant, name) == day
    assert str(zone(name)) == name


# -- the rules come from the pinned tzdata package, not from the host ----------------------------


@pytest.fixture
def host_with_other_rules(tmp_path: Path) -> Iterator[Path]:
    """A host whose time-zone database says Europe/Berlin is 9 hours ahead of UTC (as if an
    operating-system update had changed its rules), first on the TZ path of this process."""
    host = tmp_path / "zoneinfo"
    (host / "Europe").mkdir(parents=True)
    (host / "Europe" / "Berlin").write_bytes(
        (resources.files("tzdata") / "zoneinfo" / "Asia" / "Tokyo").read_bytes()
    )
    before = zoneinfo.TZPATH
    zoneinfo.reset_tzpath([str(host)])
    zoneinfo.ZoneInfo.clear_cache()
    zone.cache_clear()
    try:
        yield host
    finally:
        zoneinfo.reset_tzpath(list(before))
        zoneinfo.ZoneInfo.clear_cache()
        zone.cache_clear()


@pytest.mark.usefixtures("host_with_other_rules")
def test_the_hosts_time_zone_database_is_not_read() -> None:
    assert zoneinfo.ZoneInfo("Europe/Berlin").utcoffset(utc(2027, 1, 15)) == timedelta(hours=9)
    # Termshift's Berlin midnight is still 23:00 UTC the evening before, as tzdata says.
    assert local_midnight(date(2027, 1, 15), "Europe/Berlin") == utc(2027, 1, 14, 23)
    assert local_midnight(date(2027, 7, 15), "Europe/Berlin") == utc(2027, 7, 14, 22)


def test_a_worker_process_with_another_tz_path_computes_the_same_instants(
    host_with_other_rules: Path,
) -> None:
    script = (
        "from datetime import date; from billing.calendar import local_midnight; "
        "print(local_midnight(date(2027, 1, 15), 'Europe/Berlin').isoformat())"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONTZPATH": str(host_with_other_rules), "TZ": "Asia/Tokyo", "PATH": ""},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "2027-01-14T23:00:00+00:00"


def test_tzdata_is_pinned_in_pyproject() -> None:
    import tomllib

    project = tomllib.loads(
        (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    )
    pins = [spec for spec in project["project"]["dependencies"] if spec.startswith("tzdata")]
    assert len(pins) == 1, pins
    assert "==" in pins[0], pins
