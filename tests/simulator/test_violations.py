"""R20 after a run: what the check of the billing database finds is in the report, in the
scenario's own dates, and `simulate` makes an operator notice it (its timeline and exit code 1).

A correct run has nothing to report (every example says so); to see a report, these tests remove
one invoice line from the database just before the real check reads it.
"""

import json
from pathlib import Path

import pytest
import sqlalchemy
from typer.testing import CliRunner

from billing.coverage import Violation
from store.db import Database
from store.models import InvoiceLineRow
from termshift.cli.app import app
from termshift.services import served_days
from termshift.simulator import parse_scenario, report, simulate

# In the past on purpose: the check sees shifted dates, the report must not.
SCENARIO = """
currency: EUR
timezone: Europe/Berlin
plans:
  - {code: desk, price: 600.00}
contracts:
  - {id: c1, customer: Ada Lovelace, plan: desk, start: 2021-03-01}
until: 2021-05-01
"""


def _without_the_last_plan_line(database: Database) -> list[Violation]:
    """The real R20 check, after the last plan line of the run is lost."""
    with database.session() as session:
        last = session.scalars(
            sqlalchemy.select(InvoiceLineRow)
            .where(InvoiceLineRow.kind == "plan")
            .order_by(InvoiceLineRow.period_start.desc())
            .limit(1)
        ).one()
        session.delete(last)
    return served_days.check_database(database)


@pytest.fixture
def lost_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "check_database", _without_the_last_plan_line)


@pytest.mark.usefixtures("lost_line")
async def test_a_violation_is_reported_in_the_scenarios_dates() -> None:
    result = await simulate(parse_scenario(SCENARIO))

    assert result.shift_years > 0
    # By hand: the 05-01 line [05-01, 06-01) is gone, so its 31 served days are billed by none.
    assert result.to_json()["violations"] == [
        {
            "kind": "gap",
            "contract": "c1",
            "customer": "Ada Lovelace",
            "start": "2021-05-01",
            "end": "2021-06-01",
            "days": 31,
            "amount": "600.00",
            "detail": "31 served day(s), 2021-05-01 to 2021-06-01, are billed by no line: "
            "600.00 EUR not charged.",
        }
    ]


def _simulate(path: Path, *args: str) -> tuple[int, str, str]:
    run = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["simulate", str(path), *args], catch_exceptions=False
    )
    return run.exit_code, run.stdout, run.stderr


@pytest.mark.usefixtures("lost_line")
def test_simulate_shows_a_violation_and_exits_with_1(tmp_path: Path) -> None:
    scenario = tmp_path / "lost.yaml"
    scenario.write_text(SCENARIO)

    code, out, err = _simulate(scenario)

    assert code == 1
    timeline = " ".join(out.split())
    day = timeline.index("2021-05-01 00:00 invoice")
    assert timeline.index("R20 violated gap on contract c1: 31 served day(s), 2021-05-01") > day
    assert (
        "R20 violated 1 time: served days not billed exactly once, or deposits that do not add "
        "up: • gap on contract c1: 31 served day(s), 2021-05-01 to 2021-06-01, are billed by no "
        "line: 600.00 EUR not charged."
    ) in timeline
    assert "the run breaks R20: 1 violation (gap)" in " ".join(err.split())

    code, out, err = _simulate(scenario, "--json")

    assert code == 1
    [violation] = json.loads(out)["violations"]
    assert (violation["kind"], violation["start"], violation["amount"]) == (
        "gap",
        "2021-05-01",
        "600.00",
    )
    assert "`violations` in the JSON" in err


def test_simulate_says_when_r20_holds(tmp_path: Path) -> None:
    scenario = tmp_path / "fine.yaml"
    scenario.write_text(SCENARIO)

    code, out, _ = _simulate(scenario)

    assert code == 0
    assert "Every served day billed exactly once (R20)." in out
