"""Dates for tests that talk to a running Temporal server, taken from that server's clock.

The dev server runs on wall-clock time and the time-skipping test server starts at it, so a date
written into such a test turns into the past some day. These tests hold no literal dates
(`tests/test_test_dates.py` checks): they ask the server for its clock (`server_clock`, or
`dev_server_clock` for a dev server started without a `WorkflowEnvironment`) and derive every date
from its local date in the location's timezone — a running contract starts on the first of the
previous month, a contract that must not start during the test in the year after today's. A test
on the time-skipping server reaches any later day by skipping time to it
(`tests.support.temporal.sleep_until`).
"""

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from temporalio.testing import WorkflowEnvironment

from billing.calendar import local_date


def add_months(day: date, months: int) -> date:
    """`day` moved by `months` months (back when negative), its day clamped to the length of the
    month it lands in: 31 January + 1 month is 28 or 29 February."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


@dataclass(frozen=True)
class Clock:
    """A server's clock read at one instant, as the calendar of one timezone."""

    now: datetime
    """The server's time (UTC) when it was read."""
    timezone: str

    @property
    def today(self) -> date:
        """The local date in `timezone` (`billing.calendar.local_date`, as the workflow sees it)."""
        return local_date(self.now, self.timezone)

    def month(self, months: int = 0) -> date:
        """The first of the month `months` after today's: 0 this month, 1 the next, -1 the
        previous, 12 the same month next year."""
        return add_months(self.today.replace(day=1), months)

    @property
    def next_year(self) -> int:
        """The calendar year after today's: every day of it is ahead, at least a day away."""
        return self.today.year + 1

    def in_next_year(self, month: int, day: int) -> date:
        """`day` `month` of the year after today's: a date no test reaches in real time, whose
        month has the same length every year unless it is February."""
        return date(self.next_year, month, day)


async def server_clock(env: WorkflowEnvironment, timezone: str) -> Clock:
    """The clock of `env`'s server: the time-skipping server's (virtual) time, or a dev server's
    (wall-clock) time."""
    return Clock(await env.get_current_time(), timezone)


def dev_server_now() -> datetime:
    """The clock of a dev server (`temporal server start-dev`, also under `termshift.stack`) that a
    test started without a `WorkflowEnvironment`: the wall clock, which it runs on (what
    `WorkflowEnvironment.get_current_time` returns for a dev server)."""
    return datetime.now(UTC)


def dev_server_clock(timezone: str) -> Clock:
    """`dev_server_now` as the calendar of `timezone`."""
    return Clock(dev_server_now(), timezone)


PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def fill(template: str, values: Mapping[str, object]) -> str:
    """`template` with each `{name}` replaced by `str(values[name])`; any other text, JSON braces
    included, is left alone. An unknown name fails the test (KeyError), so a misspelt placeholder
    never reaches a command as text."""
    return PLACEHOLDER.sub(lambda match: str(values[match[1]]), template)
