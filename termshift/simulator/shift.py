"""Shifting a scenario's dates: the test server starts at the real current time and only moves
forward, so a scenario in the past runs shifted forward by the smallest multiple of 4 years that
puts its first instant (12:00 on the day before its earliest date) after the server's clock
(`choose_shift`); every date in the output, and in the messages, is shifted back (`shift_date`,
`shift_text`).

A 4-year shift keeps month lengths, leap days (29 Feb stays valid) and the number of days between
any two dates — except across a century year that is not a leap year (1900, 2100, 2200, …): a
scenario whose dates and billing periods would cross one in the original years or the shifted
ones, but not in both, is refused instead (a `ScenarioError`). Weekdays are not kept, and nothing
in the billing rules depends on them.
"""

import calendar
import datetime as dt
import re

from billing.cadence import parse_cadence
from billing.calendar import local_noon
from billing.terms import parse_span
from termshift.simulator.scenario import Scenario, ScenarioError

SHIFT_YEARS = 4


def shift_date(day: dt.date, years: int) -> dt.date:
    """`day` moved by `years` (a multiple of 4, so 29 Feb stays 29 Feb)."""
    return day.replace(year=day.year + years)


def _years(count: int, unit: str) -> int:
    """At least how many years `count` `unit`s span (a cadence or a term)."""
    if unit == "year":
        return count
    if unit == "month":
        return -(-count // 12)
    return -(-count * (7 if unit == "week" else 1) // 365)


def _horizon_years(scenario: Scenario) -> int:
    """Years past `until` that an invoice issued by then can cover: a period's end, or an early
    termination's commitment end (R15), a minimum term and some cycles away."""
    longest_period = max(
        _years(cadence.count, cadence.unit.value)
        for cadence in (parse_cadence(plan.every) for plan in scenario.plans)
    )
    terms = [spec.minimum_term for spec in [*scenario.plans, *scenario.contracts]]
    longest_term = max(
        (_years(span.count, span.unit.value) for span in map(parse_span, filter(None, terms))),
        default=0,
    )
    return longest_period + longest_term + 1


def _scenario_dates(scenario: Scenario) -> list[dt.date]:
    dates = [scenario.until]
    for contract in scenario.contracts:
        dates += [contract.start] + ([contract.anchor] if contract.anchor else [])
    for action in scenario.actions:
        dates.append(action.on)
        spec = getattr(action.do, action.do.kind)
        for name in ("date", "start", "anchor", "on", "from_"):
            value = getattr(spec, name, None)
            if isinstance(value, dt.date):
                dates.append(value)
    return dates


def choose_shift(scenario: Scenario, now: dt.datetime) -> int:
    """The smallest multiple of 4 years (0 or more) that puts the simulation's first instant —
    12:00 local on the day before the earliest date — after `now`, the server's clock.

    Refused (`ScenarioError`) where the shift would change a day count: when the years the scenario
    spans include a common century year (1900, 2100, …) on one side of the shift only.
    """
    first_day = scenario.earliest() - dt.timedelta(days=1)
    years = 0
    while True:
        try:
            if local_noon(shift_date(first_day, years), scenario.timezone) > now:
                break
        except ValueError:
            pass  # 29 Feb of a common century year: the check below refuses such a shift
        years += SHIFT_YEARS
    if years == 0:
        return 0
    dates = _scenario_dates(scenario)
    low, high = min(dates).year - 1, max(dates).year + _horizon_years(scenario)
    for year in range(low, high + 1):
        if calendar.isleap(year) != calendar.isleap(year + years):
            raise ScenarioError(
                [
                    f"dates: the scenario runs on the test server, which starts today, so its "
                    f"dates are shifted forward by {years} years; but {year} "
                    f"{'is' if calendar.isleap(year) else 'is not'} a leap year while "
                    f"{year + years} {'is' if calendar.isleap(year + years) else 'is not'}, which "
                    "would change day counts. Move the scenario to years that no common century "
                    "year (1900, 2100, …) separates from today."
                ]
            )
    if high + years > dt.MAXYEAR:
        raise ScenarioError([f"dates: shifted by {years} years they pass the year {dt.MAXYEAR}"])
    return years


_ISO_DATE = re.compile(r"(?<![\w-])(\d{4})-(\d{2})-(\d{2})(?![\w-])")
"""A date in a message, not inside an id such as `lease-2027-05-01`."""


def shift_text(text: str, years: int) -> str:
    """Shift every ISO date in a message (the workflow speaks in shifted dates)."""
    if years == 0:
        return text

    def back(match: re.Match[str]) -> str:
        try:
            day = dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return match[0]
        return shift_date(day, years).isoformat()

    return _ISO_DATE.sub(back, text)
