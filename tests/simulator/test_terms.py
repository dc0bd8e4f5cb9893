"""Contract terms, freezes and prices (SPEC §3b) in scenarios: the terms a plan and a contract
take, the commands that use them, what the run reports (`commitment_end`, refusals with the rule's
own message) and how a scenario with a bad term or command is refused before anything runs."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio

from billing.terms import Renewal, Terms
from termshift.simulator import ScenarioError, SimulationResult, parse_scenario, simulate

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = """
currency: EUR
timezone: Europe/Berlin
plans:
  - {code: desk, price: 300.00, minimum_term: 12 months, notice: 1 month, max_freeze_cycles: 1}
  - {code: flex, price: 200.00}
contracts:
  - {id: t1, customer: Ada, plan: desk, start: 2027-01-01}
  - {id: t2, customer: Bob, plan: desk, start: 2027-01-01, minimum_term: 3 months, notice: 7 days}
  - {id: t3, customer: Cy, plan: flex, start: 2027-01-01}
actions:
  - {on: 2027-02-10, do: {unfreeze: {contract: t1}}}
  - {on: 2027-02-10, do: {freeze: {contract: t1, cycles: 2, override_terms: true, reason: ""}}}
  - {on: 2027-02-10, do: {freeze: {contract: t1, cycles: 2, override_terms: true}}}
  - {on: 2027-02-10, do: {cancel: {contract: t2, date: 2027-03-01}}}
  - {on: 2027-02-10, do: {cancel_at_next_invoice: {contract: t2}}}
  - {on: 2027-02-10, do: {cancel: {contract: t2, date: 2027-04-01, reason: "Moving out."}}}
  - {on: 2027-02-10, do: {cancel: {contract: t3, date: 2027-03-01}}}
  - {on: 2027-02-15, do: {set_price: {contract: t3, price: 250.00}}}
  - {on: 2027-03-10, do: {freeze: {contract: t3, cycles: 1}}}
until: 2027-05-01
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def run() -> SimulationResult:
    """The scenario's run, once for the tests that read its report."""
    return await simulate(parse_scenario(SCENARIO))


def test_the_terms_set_the_commitment_end_each_contract_reports(run: SimulationResult) -> None:
    report = run.to_json()

    # By hand: t1 from the plan, 2027-01-01 + 12 months = 2028-01-01, moved 2 cycles later by the
    # overridden freeze (2 months): 2028-03-01. t2's own minimum term, 3 months, in place of the
    # plan's: 2027-04-01. t3's plan has no minimum term: none.
    assert {c["id"]: c["commitment_end"] for c in report["contracts"]} == {
        "t1": "2028-03-01",
        "t2": "2027-04-01",
        "t3": None,
    }


def test_refused_commands_are_rejections_with_the_rules_message(run: SimulationResult) -> None:
    report = run.to_json()

    assert [(r["on"], r["action"]) for r in report["rejections"]] == [
        ("2027-02-10", "unfreeze"),
        ("2027-02-10", "freeze"),
        ("2027-02-10", "cancel"),
        ("2027-02-10", "cancel_at_next_invoice"),
        ("2027-02-15", "set_price"),
        ("2027-03-10", "freeze"),
    ]
    errors = [r["error"] for r in report["rejections"]]
    assert errors[0].startswith("Cannot unfreeze the contract: contract t1 has no freeze")
    assert "--override-terms and no reason" in errors[1]  # an explicit empty reason is kept
    assert errors[2].startswith(
        "Cannot cancel on 2027-03-01: contract t2 is committed until 2027-04-01 "
        "(minimum term 3 months)."
    )
    assert "Cancel on 2027-04-01 or later" in errors[3]
    assert "already has a manual cancellation on 2027-03-01" in errors[4]
    # Sent after t3's workflow ended: the rule's own refusal all the same.
    assert "contract t3 is cancelled; it ended on 2027-03-01" in errors[5]


def test_what_the_accepted_commands_did(run: SimulationResult) -> None:
    report = run.to_json()

    # t1 frozen 03-01 to 05-01 (2 cycles, overridden): nothing on 03-01 and 04-01, billed again
    # on 05-01; t2 cancelled on 04-01, its commitment end: its 03-01 invoice is its last; t3
    # ends on 03-01.
    assert [(i["contract"], i["date"], i["total"]) for i in report["invoices"]] == [
        ("t1", "2027-01-01", "300.00"),
        ("t2", "2027-01-01", "300.00"),
        ("t3", "2027-01-01", "200.00"),
        ("t1", "2027-02-01", "300.00"),
        ("t2", "2027-02-01", "300.00"),
        ("t3", "2027-02-01", "200.00"),
        ("t2", "2027-03-01", "300.00"),
        ("t1", "2027-05-01", "300.00"),
    ]
    assert report["violations"] == []
    # An override needs no reason in a scenario (the simulator writes one); the effect says
    # which term it passed.
    [freeze] = [c for c in run.commands if c.action == "freeze" and c.accepted]
    assert freeze.contract == "t1"
    assert "Terms overridden: at most 1 cycle" in freeze.message
    assert "The commitment end moves from 2028-01-01 to 2028-03-01" in freeze.message


# --- the scenario file ---------------------------------------------------------------------------


def test_a_contracts_terms_take_the_place_of_its_plans() -> None:
    scenario = parse_scenario(SCENARIO)
    plan = scenario.plan("desk").terms()
    t1, t2, _ = scenario.contracts

    assert plan == Terms(notice="1 month", minimum_term="12 months", max_freeze_cycles=1)
    assert t1.terms(plan) == plan
    assert t2.terms(plan) == Terms(notice="7 days", minimum_term="3 months", max_freeze_cycles=1)
    assert t2.terms(plan).renewal is Renewal.ROLLING


def test_the_commands_of_section_3b_are_read_with_their_fields() -> None:
    scenario = parse_scenario(
        SCENARIO.replace(
            "until:",
            """  - {on: 2027-03-12, do: {set_price: {contract: t1, price: 320.00,
                                      from: 2027-06-01}}}
  - {on: 2027-03-12, do: {schedule_change: {contract: t2, next_plan: flex, price: 180.00}}}
  - {on: 2027-03-12, do: {cancel: {contract: t1, date: 2027-06-20,
                                   charge_remaining_term: true}}}
until:""",
        )
    )
    set_price, change, cancel = (action.do for action in scenario.actions[-3:])

    assert set_price.set_price is not None
    assert set_price.set_price.from_ == dt.date(2027, 6, 1)
    assert change.schedule_change is not None
    assert str(change.schedule_change.price) == "180.00"
    assert cancel.cancel is not None
    assert cancel.cancel.charge_remaining_term
    assert cancel.reason is None  # the simulator writes one
    assert scenario.actions[1].do.reason == ""


VALID = """
currency: EUR
timezone: Europe/Berlin
plans:
  - {code: desk, price: 600.00, notice: 30 days, minimum_term: 12 months}
contracts:
  - {id: c1, customer: Ada, plan: desk, start: 2027-03-01}
actions:
  - on: 2027-04-15
    do:
      freeze: {contract: c1, cycles: 1}
until: 2027-06-01
"""


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("notice: 30 days", "notice: a fortnight"), "plans[0].notice: Unknown span 'a fortnight'"),
        (("notice: 30 days", "notice: 0 days"), "plans[0].notice: Unknown span '0 days'"),
        (("12 months}", "12 lunar months}"), "plans[0].minimum_term: Unknown span"),
        (("12 months}", "12 months, renewal: forever}"), "plans[0].renewal: Input should be"),
        (("12 months}", "12 months, max_freeze_cycles: 0}"), "plans[0].max_freeze_cycles: "),
        (("12 months}", "12 months, max_freeze_cycles: 1.5}"), "plans[0].max_freeze_cycles: "),
        (("12 months}", "12 months, max_freeze_cycles: true}"), "plans[0].max_freeze_cycles: "),
        (("12 months}", "12 months, max_freezes_per_year: -1}"), "plans[0].max_freezes_per_year"),
        (("12 months}", "12 months, grace: 3 days}"), "plans[0].grace: Extra inputs"),
        (("2027-03-01}", "2027-03-01, notice: soon}"), "contracts[0].notice: Unknown span 'soon'"),
        (
            ("notice: 30 days, minimum_term: 12 months", "renewal: end"),
            "contracts[0].renewal: renewal 'end' (plan desk's) acts at the end of a minimum term",
        ),
        (
            ("2027-03-01}", "2027-03-01, renewal: renew, minimum_term: 3 months}"),
            None,  # a contract's own minimum term makes its renewal valid
        ),
        (("cycles: 1}", "cycles: 0}"), "actions[0].do.freeze.cycles: Input should be greater"),
        (("cycles: 1}", "cycles: 121}"), "actions[0].do.freeze.cycles: Input should be less"),
        (("cycles: 1}", "cycles: 1, until: 2027-07-01}"), "actions[0].do.freeze.until: Extra"),
        (
            ("freeze: {contract: c1, cycles: 1}", "set_price: {contract: c1, price: 1.001}"),
            "actions[0].do.set_price.price: The amount 1.001 has more",
        ),
        (
            (
                "freeze: {contract: c1, cycles: 1}",
                "schedule_change: {contract: c1, next_plan: desk, price: -5}",
            ),
            "actions[0].do.schedule_change.price: The amount -5 is negative",
        ),
        (
            (
                "freeze: {contract: c1, cycles: 1}",
                "cancel: {contract: c1, date: 2027-05-01, charge_remaining_term: maybe}",
            ),
            "actions[0].do.cancel.charge_remaining_term: Input should be a valid boolean",
        ),
        (
            (
                "freeze: {contract: c1, cycles: 1}",
                "plan_price: {plan: desk, price: 650.00, from: 2027-05-01, grandfather: true}",
            ),
            None,  # R18: a plan's new price, sent to the plan's running contracts
        ),
        (
            (
                "freeze: {contract: c1, cycles: 1}",
                "plan_price: {plan: dsk, price: 650.00, from: 2027-05-01}",
            ),
            "actions[0].do.plan_price.plan: no plan 'dsk' in the scenario (its plans: desk)",
        ),
        (
            (
                "freeze: {contract: c1, cycles: 1}",
                "plan_price: {plan: desk, price: 650.001, from: 2027-05-01}",
            ),
            "actions[0].do.plan_price.price: The amount 650.001 has more",
        ),
        (
            ("freeze: {contract: c1, cycles: 1}", "plan_price: {plan: desk, price: 650.00}"),
            "actions[0].do.plan_price.from: Field required",
        ),
        (
            (
                "freeze: {contract: c1, cycles: 1}",
                "plan_price: {plan: desk, price: 650.00, from: 2027-05-32}",
            ),
            "actions[0].do.plan_price.from: ",
        ),
        (
            (
                "freeze: {contract: c1, cycles: 1}",
                "plan_price: {plan: desk, price: 650.00, from: 2027-05-01, grandfather: maybe}",
            ),
            "actions[0].do.plan_price.grandfather: Input should be a valid boolean",
        ),
        (
            (
                "freeze: {contract: c1, cycles: 1}",
                "plan_price: {plan: desk, contract: c1, price: 650.00, from: 2027-05-01}",
            ),
            "actions[0].do.plan_price.contract: Extra inputs",
        ),
        (
            ("freeze: {contract: c1, cycles: 1}", "pause: {contract: c1}"),
            "actions[0].do.pause: no command 'pause'; give exactly one of: schedule_change,",
        ),
        (("cycles: 1}", f"cycles: 1, reason: {'x' * 2001}}}"), "actions[0].do.freeze.reason: "),
    ],
)
def test_a_bad_term_or_command_is_refused_by_its_place(
    change: tuple[str, str], problem: str | None
) -> None:
    old, new = change
    assert old in VALID
    scenario = VALID.replace(old, new, 1)

    if problem is None:
        parse_scenario(scenario)
        return
    with pytest.raises(ScenarioError) as raised:
        parse_scenario(scenario)

    assert any(line.startswith(problem) for line in raised.value.problems), raised.value.problems


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


def test_the_timeline_shows_the_commitment_end_and_the_early_termination() -> None:
    run = starter(str(ROOT / "examples" / "early-termination.yaml"))

    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    assert "early_termination 2027-06-20 to 2028-01-01 5,730.00 EUR" in text
    assert "contract s1-t2 on suite at 1,200.00 EUR, replacing s1, commitment end 2028-01-01" in (
        text
    )
    assert "Terms overridden: minimum term to 2028-01-01" in text


def test_the_timeline_shows_a_plans_new_price_and_what_each_contract_took() -> None:
    run = starter(str(ROOT / "examples" / "plan-price.yaml"))

    assert run.returncode == 0, run.stderr
    text = " ".join(run.stdout.split())
    assert (
        "plan_price on plan desk: Plan desk's price set from 500.00 EUR to 550.00 EUR: contracts "
        "created from now on get it. Sent to its running contracts and those changing to it (a1, "
        "b1, c1), to apply from "
        "their first invoice date on or after 2027-03-10; c1 unaffected."
    ) in text
    assert "plan_price on e1: Contract e1 keeps its price of 900.00 EUR, now a custom price" in (
        text
    )
    assert "contract f1-t2 on office at 950.00 EUR, replacing f1" in text


# --- a plan's new price (R18 `plan_price`) --------------------------------------------------------

PLAN_PRICE = """
currency: EUR
timezone: Europe/Berlin
plans:
  - {code: desk, price: 300.00}
  - {code: suite, price: 1000.00}
  - {code: flex, price: 100.00}
contracts:
  - {id: d1, customer: Ada, plan: desk, start: 2027-01-01}
  - {id: d2, customer: Bob, plan: desk, start: 2027-01-01, price: 280.00}
  - {id: d3, customer: Cy, plan: desk, start: 2027-01-01}
  - {id: d5, customer: Dee, plan: desk, start: 2027-05-01}
  - {id: d6, customer: Eve, plan: desk, start: 2027-01-01}
  - {id: s1, customer: Fay, plan: suite, start: 2027-01-01}
  - {id: f1, customer: Gus, plan: flex, start: 2027-01-01}
  - {id: g1, customer: Hal, plan: flex, start: 2027-01-01}
  - {id: h1, customer: Ivy, plan: flex, start: 2027-01-01}
actions:
  - {on: 2027-01-10, do: {cancel: {contract: d6, date: 2027-02-01}}}
  - {on: 2027-02-05, do: {cancel: {contract: d3, date: 2027-04-01}}}
  - {on: 2027-02-05, do: {cancel: {contract: g1, date: 2027-04-01}}}
  - {on: 2027-02-10, do: {schedule_change: {contract: h1, next_plan: suite}}}
  - {on: 2027-02-20, do: {plan_price: {plan: desk, price: 330.00, from: 2027-03-15}}}
  - {on: 2027-02-20, do: {plan_price: {plan: suite, price: 1100.00, from: 2027-03-01,
                                       grandfather: true}}}
  - {on: 2027-02-25, do: {plan_price: {plan: desk, price: 400.00, from: 2027-02-01}}}
  - {on: 2027-03-01, do: {new_term: {from: d3, id: d4, plan: desk, start: 2027-04-01}}}
  - {on: 2027-03-01, do: {new_term: {from: g1, id: g2, plan: desk, start: 2027-04-01}}}
  - {on: 2027-03-05, do: {schedule_change: {contract: f1, next_plan: suite}}}
until: 2027-05-01
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def repriced() -> SimulationResult:
    """The plan_price scenario's run, once for the tests that read its report."""
    return await simulate(parse_scenario(PLAN_PRICE))


def invoiced(result: SimulationResult, *contracts: str) -> list[tuple[str, str, str]]:
    return [
        (invoice.contract, invoice.date.isoformat(), invoice.total)
        for invoice in result.invoices
        if invoice.contract in contracts
    ]


def test_a_plans_new_price_applies_from_the_first_invoice_date_on_or_after_from(
    repriced: SimulationResult,
) -> None:
    # By hand (R18): desk's 330.00 from 2027-03-15; d1 is invoiced on the 1st, so 03-01 is still
    # 300.00 and 04-01, the first invoice date on or after 03-15, is 330.00 — nothing prorated.
    # d5, created with the scenario (not started yet), takes it on its first invoice, 05-01.
    assert invoiced(repriced, "d1", "d5") == [
        ("d1", "2027-01-01", "300.00"),
        ("d1", "2027-02-01", "300.00"),
        ("d1", "2027-03-01", "300.00"),
        ("d1", "2027-04-01", "330.00"),
        ("d1", "2027-05-01", "330.00"),
        ("d5", "2027-05-01", "330.00"),
    ]
    prices = {contract.id: contract.price for contract in repriced.contracts}
    assert prices["d1"] == prices["d5"] == "330.00"  # the plan's price: not a custom one
    assert repriced.violations == []


def test_a_custom_price_is_unaffected_and_no_rejection(repriced: SimulationResult) -> None:
    assert invoiced(repriced, "d2") == [
        ("d2", f"2027-0{month}-01", "280.00") for month in range(1, 6)
    ]
    assert not any("d2" in rejection.error for rejection in repriced.rejections)
    assert not any(
        event.contract == "d2" and event.type == "command.refused" for event in repriced.events
    )


def test_a_contract_leaving_the_plan_first_is_skipped_and_a_past_date_is_refused(
    repriced: SimulationResult,
) -> None:
    # d3 ends on 04-01 (its manual cancellation), the invoice date the new price would start on:
    # it never pays it, so it is skipped, not refused. d6 had ended, so nothing was sent to it.
    # A date already past is refused before anything changes (as `plans set-price` does).
    assert [(r.on.isoformat(), r.action) for r in repriced.rejections] == [
        ("2027-02-25", "plan_price"),
    ]
    [past] = (rejection.error for rejection in repriced.rejections)
    assert past.startswith("Cannot set plan desk's price to 400.00 EUR from 2027-02-01: that date")
    assert invoiced(repriced, "d3", "d6") == [
        ("d3", "2027-01-01", "300.00"),
        ("d6", "2027-01-01", "300.00"),
        ("d3", "2027-02-01", "300.00"),
        ("d3", "2027-03-01", "300.00"),
    ]
    [price_scheduled] = [
        (event.contract, event.date.isoformat())
        for event in repriced.events
        if event.type == "contract.price_scheduled" and event.contract == "d1"
    ]
    assert price_scheduled == ("d1", "2027-02-20")


def test_a_contract_created_after_the_new_price_gets_it(repriced: SimulationResult) -> None:
    # g2, the new term on desk that g1 (on flex) lines up on 03-01, takes desk's price then:
    # 330.00 (the refused 400.00 changed nothing); f1-t2, the automated switch to suite scheduled
    # on 03-05 and made on 04-01, takes suite's: 1,100.00.
    assert invoiced(repriced, "g2", "f1-t2") == [
        ("f1-t2", "2027-04-01", "1100.00"),
        ("g2", "2027-04-01", "330.00"),
        ("f1-t2", "2027-05-01", "1100.00"),
        ("g2", "2027-05-01", "330.00"),
    ]


def test_a_new_term_on_the_same_plan_created_after_the_new_price_gets_it(
    repriced: SimulationResult,
) -> None:
    # d4, d3's new term on desk made on 03-01, after desk's price became 330.00 (R18).
    assert invoiced(repriced, "d4") == [
        ("d4", "2027-04-01", "330.00"),
        ("d4", "2027-05-01", "330.00"),
    ]


def test_a_switch_scheduled_before_the_new_price_and_made_after_it_gets_it(
    repriced: SimulationResult,
) -> None:
    # h1's switch to suite was scheduled on 02-10, before suite's new price (02-20); it happens
    # on 03-01, so its new contract is created after the change (R18).
    assert invoiced(repriced, "h1-t2") == [
        ("h1-t2", "2027-03-01", "1100.00"),
        ("h1-t2", "2027-04-01", "1100.00"),
        ("h1-t2", "2027-05-01", "1100.00"),
    ]


def test_grandfathered_contracts_keep_their_price(repriced: SimulationResult) -> None:
    # s1 keeps 1,000.00 after suite's price becomes 1,100.00 (it is now its custom price).
    assert invoiced(repriced, "s1") == [
        ("s1", f"2027-0{month}-01", "1000.00") for month in range(1, 6)
    ]
    [s1] = [contract for contract in repriced.contracts if contract.id == "s1"]
    assert s1.price == "1000.00"
    [grandfathered] = [c for c in repriced.commands if c.contract == "s1"]
    assert grandfathered.accepted
    assert "keeps its price of 1,000.00 EUR, now a custom price" in grandfathered.message
    [suite] = [c for c in repriced.commands if c.contract == "plan suite"]
    assert (
        "Sent to its running contracts and those changing to it (s1, h1), which keep their price "
        "(grandfathered)."
    ) in (suite.message)
