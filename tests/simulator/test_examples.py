"""The scenario simulator: every example against its hand-computed output, scenario validation,
the 4-year shift of past scenarios, and `starter.py simulate` as a user runs it."""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from termshift.simulator import ScenarioError, choose_shift, parse_scenario, simulate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def expected(example: Path) -> Any:
    return json.loads(example.with_name(f"{example.stem}.expected.json").read_text())


def test_every_seed_flow_and_term_rule_has_an_example() -> None:
    assert {example.stem for example in EXAMPLES} == {
        "automated-upgrade",
        "automated-downgrade",
        "blocked-custom-price",
        "cancel-at-next-invoice",
        "manual-upgrade-mid-period",
        "manual-switch",
        "cancel-after-next-invoice-date",
        "deposits-top-up-and-refund",
        "undo-pending-change",
        "undo-after-prorated-cut",
        "new-term-after-the-end",
        # SPEC §3b
        "notice-period",  # R14
        "early-termination",  # R15
        "renewal-renew",  # R16
        "renewal-end",  # R16
        "freeze",  # R17
        "set-price",  # R18
        "plan-price",  # R18
        "change-with-price",  # R19
    }


def test_every_example_is_in_the_readme() -> None:
    readme = (ROOT / "examples" / "README.md").read_text()
    for example in EXAMPLES:
        assert f"| `{example.stem}` |" in readme, example.name


@pytest.mark.parametrize("example", EXAMPLES, ids=[example.stem for example in EXAMPLES])
async def test_example_gives_its_expected_output(example: Path) -> None:
    result = await simulate(parse_scenario(example.read_text()))

    assert result.to_json() == expected(example)
    assert result.violations == []  # R20 holds after every example


def test_every_expected_output_says_that_r20_holds() -> None:
    for example in EXAMPLES:
        assert expected(example)["violations"] == [], example.name


def test_every_expected_output_numbers_each_contracts_events_without_gaps() -> None:
    """SPEC §7: a contract's events are 1, 2, 3 …, dated in order; each refused command of a
    running contract wrote its `command.refused`; every invoice has its `invoice.issued`."""
    for example in EXAMPLES:
        output = expected(example)
        by_contract: dict[str, list[dict[str, Any]]] = {}
        for event in output["events"]:
            by_contract.setdefault(event["contract"], []).append(event)
        for contract, events in by_contract.items():
            assert [event["sequence"] for event in events] == list(range(1, len(events) + 1))
            assert [event["date"] for event in events] == sorted(e["date"] for e in events)
            assert events[0]["type"] == "contract.created", (example.name, contract)
        created = {contract["id"] for contract in output["contracts"]}
        assert set(by_contract) == created, example.name
        # A command to a contract whose workflow has ended reaches no contract and writes none.
        refused = [e["date"] for e in output["events"] if e["type"] == "command.refused"]
        rejected = [rejection["on"] for rejection in output["rejections"]]
        assert len(refused) <= len(rejected), example.name
        assert set(refused) <= set(rejected), example.name
        issued = [
            (e["contract"], e["date"]) for e in output["events"] if e["type"] == "invoice.issued"
        ]
        assert sorted(issued) == sorted((i["contract"], i["date"]) for i in output["invoices"])


# --- the 4-year shift ----------------------------------------------------------------------------

PAST = """
currency: EUR
timezone: Europe/Berlin
plans:
  - {code: desk, price: 290.00}
  - {code: office, price: 900.00}
contracts:
  - {id: s1, customer: Ada, plan: desk, start: 2019-12-10, anchor: 2020-02-29,
     prorate_first_invoice: true}
actions:
  - {on: 2020-02-10, do: {cancel: {contract: s1, date: 2020-03-10, prorate: true}}}
  - {on: 2020-02-11, do: {schedule_change: {contract: s1, next_plan: office}}}
until: 2020-03-15
"""


async def test_a_past_scenario_runs_shifted_and_reports_its_own_dates() -> None:
    result = await simulate(parse_scenario(PAST))

    assert result.shift_years > 0
    assert result.shift_years % 4 == 0
    # By hand: periods anchored on 29 Feb 2020 (R2): 2019-11-29, 12-29, 2020-01-29, 02-29, 03-29.
    assert [
        (invoice["date"], line["period_start"], line["period_end"], line["amount"])
        for invoice in result.to_json()["invoices"]
        for line in invoice["lines"]
    ] == [
        ("2019-12-10", "2019-12-10", "2019-12-29", "183.67"),  # 290.00 × 19/30, prorated stub
        ("2019-12-29", "2019-12-29", "2020-01-29", "290.00"),
        ("2020-01-29", "2020-01-29", "2020-02-29", "290.00"),
        ("2020-02-29", "2020-02-29", "2020-03-10", "100.00"),  # 290.00 × 10/29, last invoice
    ]
    assert result.to_json()["contracts"] == [
        {
            "id": "s1",
            "plan": "desk",
            "price": "290.00",
            "status": "cancelled",
            "start": "2019-12-10",
            "end": "2020-03-10",
            "replaces": None,
            "commitment_end": None,
        }
    ]
    [rejection] = result.to_json()["rejections"]
    assert rejection["on"] == "2020-02-11"
    assert "manual cancellation on 2020-03-10" in rejection["error"]
    cancelled, refused = result.commands
    assert cancelled.accepted
    assert "the last invoice, on 2020-02-29, covers 2020-02-29 to 2020-03-10" in cancelled.message
    assert not refused.accepted
    assert str(2020 + result.shift_years) not in json.dumps(result.to_json())


def test_the_shift_is_the_smallest_multiple_of_four_years_after_the_server_clock() -> None:
    scenario = parse_scenario(PAST)
    now = dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)

    assert choose_shift(scenario, now) == 8  # 2019-12-09 + 4 = 2023 (past), + 8 = 2027
    assert choose_shift(scenario, dt.datetime(2019, 1, 1, tzinfo=dt.UTC)) == 0


def test_a_shift_across_a_common_century_year_is_refused() -> None:
    scenario = parse_scenario(
        PAST.replace("2019-", "1899-").replace("2020-02-29", "1900-02-28").replace("2020-", "1900-")
    )

    with pytest.raises(ScenarioError, match=r"dates: .*1900 is not a leap year"):
        choose_shift(scenario, dt.datetime(2026, 11, 26, tzinfo=dt.UTC))


# --- validation ----------------------------------------------------------------------------------

VALID = """
currency: EUR
timezone: Europe/Berlin
plans:
  - {code: desk, price: 600.00}
contracts:
  - {id: c1, customer: Ada, plan: desk, start: 2027-03-01}
actions:
  - on: 2027-04-15
    do:
      cancel: {contract: c1, date: 2027-05-11, prorate: true}
until: 2027-06-01
"""


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("until: 2027-06-01", "until: 2027-06-01\ncolour: red"), "colour: Extra inputs"),
        (("prorate: true}", "prorate: true, when: soon}"), "actions[0].do.cancel.when: Extra"),
        (("date: 2027-05-11", "date: 2027-02-30"), "actions[0].do.cancel.date: "),
        (("price: 600.00", "price: 600.001"), "plans[0].price: The amount 600.001 has more"),
        (("price: 600.00", "price: -5"), "plans[0].price: The amount -5 is negative"),
        (("plan: desk, start", "plan: dsk, start"), "contracts[0].plan: no plan 'dsk'"),
        (("contract: c1, date", "contract: c9, date"), "actions[0].do.cancel.contract: no "),
        (("on: 2027-04-15", "on: 2027-07-01"), "actions[0].on: 2027-07-01 is after until"),
        (("currency: EUR", "currency: EURO"), "currency: Unknown currency 'EURO'"),
        (("timezone: Europe/Berlin", "timezone: Mars/Base"), "timezone: Unknown timezone"),
        (
            ("cancel: {contract: c1, date: 2027-05-11, prorate: true}", "uncancel: {}"),
            "actions[0].do.uncancel.contract: Field required",
        ),
        (
            ("do:\n", "do:\n      clear_change: {contract: c1}\n"),
            "actions[0].do: give exactly one command",
        ),
    ],
)
def test_an_invalid_scenario_names_the_place_of_the_problem(
    change: tuple[str, str], problem: str
) -> None:
    old, new = change
    assert old in VALID

    with pytest.raises(ScenarioError) as raised:
        parse_scenario(VALID.replace(old, new, 1))

    assert any(line.startswith(problem) for line in raised.value.problems), raised.value.problems


def test_a_next_term_is_known_by_id_after_the_action_that_creates_it() -> None:
    scenario = VALID.replace(
        "until:",
        "  - {on: 2027-05-20, do: {cancel: {contract: c1-t2, date: 2027-06-01}}}\nuntil:",
    )
    with pytest.raises(ScenarioError, match=r"actions\[1\]\.do\.cancel\.contract: no contract"):
        parse_scenario(scenario)

    switched = scenario.replace(
        "actions:\n",
        "actions:\n  - {on: 2027-03-10, do: {schedule_change: {contract: c1, next_plan: desk2}}}\n",
    ).replace("plans:\n", "plans:\n  - {code: desk2, price: 700.00}\n")
    parse_scenario(switched)  # c1-t2 is c1's automated switch


# --- the command line ----------------------------------------------------------------------------


def starter(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "starter.py", "simulate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_simulate_json_prints_only_the_json() -> None:
    example = ROOT / "examples" / "cancel-after-next-invoice-date.yaml"

    run = starter(str(example), "--json")

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == expected(example)


def test_simulate_prints_a_timeline() -> None:
    run = starter(str(ROOT / "examples" / "manual-upgrade-mid-period.yaml"))

    assert run.returncode == 0, run.stderr
    assert "2027-03-21" in run.stdout
    assert "532.26" in run.stdout
    assert "-88.71" in run.stdout
    # Amounts read as everywhere else: grouped, to the minor unit, with the currency.
    assert "1,500.00 EUR" in run.stdout
    assert "1500.00" not in run.stdout


def test_simulate_prints_a_new_term_made_after_the_end() -> None:
    run = starter(str(ROOT / "examples" / "new-term-after-the-end.yaml"))

    assert run.returncode == 0, run.stderr
    assert "new_term on c1: New term c2 replaces contract c1" in " ".join(run.stdout.split())
    assert (
        "Deposits held after 2027-08-01: Ada 1,000.00 EUR, Bob 1,000.00 EUR, Cy 1,000.00 EUR"
        in (" ".join(run.stdout.split()))
    )


def test_simulate_refuses_an_invalid_scenario_with_exit_code_2(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(VALID.replace("date: 2027-05-11", "date: 2027-02-30"))

    run = starter(str(scenario), "--json")

    assert run.returncode == 2
    assert run.stdout == ""
    assert "actions[0].do.cancel.date" in run.stderr
