"""The manual change in one step (`switch`) in scenarios: played through the real workflow, refused
like every other command, and checked before anything runs."""

import pytest

from termshift.simulator import ScenarioError, parse_scenario, simulate

# In the past on purpose: the run is shifted by years, so the switch date must be shifted too.
SWITCH = """
currency: EUR
timezone: Europe/Berlin
plans:
  - {code: desk, price: 600.00, deposit: 100.00}
  - {code: office, price: 900.00, deposit: 300.00}
contracts:
  - {id: c1, customer: Ada, plan: desk, start: 2021-03-01}
actions:
  - on: 2021-04-15
    do:
      switch:
        {contract: c1, to: office, on: 2021-05-11, prorate: true, prorate_first_invoice: false}
  - on: 2021-05-20
    do:
      schedule_change: {contract: c1-t2, next_plan: desk}
until: 2021-06-01
"""


async def test_a_switch_cancels_and_starts_the_new_term_that_day() -> None:
    result = await simulate(parse_scenario(SWITCH))

    assert result.shift_years > 0
    output = result.to_json()
    # By hand: c1 is billed on the 1st; the switch on 05-11 is after its next invoice date, so the
    # 05-01 invoice is its last, cut at 05-11 and prorated (R7): 600.00 × 10/31 = 193.548… →
    # 193.55. c1-t2 keeps the billing day; its stub [05-11, 06-01) is not prorated (R8): 900.00,
    # and its first invoice charges the deposit top-up 300.00 − 100.00 = 200.00 (R9). The
    # automated change on c1-t2 then makes c1-t3 on 06-01, at the desk's 600.00; its deposit of
    # 100.00 is covered by the 300.00 it inherits (R9: the surplus stays held).
    assert [
        (invoice["contract"], invoice["date"], line["kind"], line["period_start"], line["amount"])
        for invoice in output["invoices"]
        for line in invoice["lines"]
    ] == [
        ("c1", "2021-03-01", "plan", "2021-03-01", "600.00"),
        ("c1", "2021-03-01", "deposit", "2021-03-01", "100.00"),
        ("c1", "2021-04-01", "plan", "2021-04-01", "600.00"),
        ("c1", "2021-05-01", "plan", "2021-05-01", "193.55"),
        ("c1-t2", "2021-05-11", "plan", "2021-05-11", "900.00"),
        ("c1-t2", "2021-05-11", "deposit", "2021-05-11", "200.00"),
        ("c1-t3", "2021-06-01", "plan", "2021-06-01", "600.00"),
    ]
    assert [line["period_end"] for invoice in output["invoices"] for line in invoice["lines"]][
        3:5
    ] == ["2021-05-11", "2021-06-01"]
    assert [
        (contract["id"], contract["plan"], contract["status"], contract["start"], contract["end"])
        for contract in output["contracts"]
    ] == [
        ("c1", "desk", "cancelled", "2021-03-01", "2021-05-11"),
        ("c1-t2", "office", "cancelled", "2021-05-11", "2021-06-01"),
        ("c1-t3", "desk", "active", "2021-06-01", None),
    ]
    assert output["deposits"] == [{"customer": "Ada", "held": "300.00"}]
    assert output["rejections"] == []
    assert output["violations"] == []
    switched = result.commands[0]
    assert switched.action == "switch"
    assert switched.accepted
    assert "New term c1-t2 replaces contract c1" in switched.message
    assert "2021-05-11" in switched.message


REFUSED = """
currency: EUR
timezone: Europe/Berlin
plans:
  - {code: desk, price: 600.00}
  - {code: office, price: 900.00, prorate_first_invoice: false}
contracts:
  - {id: c1, customer: Ada, plan: desk, start: 2027-03-01}
  - {id: c2, customer: Bob, plan: desk, start: 2027-03-01}
actions:
  - on: 2027-04-10
    do:
      switch: {contract: c1, to: office, on: 2027-03-15}
  - on: 2027-04-10
    do:
      switch: {contract: c1, to: office, on: 2027-04-20, prorate_first_invoice: true}
  - on: 2027-04-10
    do:
      cancel: {contract: c2, date: 2027-04-20}
  - on: 2027-04-25
    do:
      switch: {contract: c2, to: office, on: 2027-05-01, id: c2-office}
until: 2027-05-01
"""


async def test_a_refused_switch_is_a_rejection_and_changes_nothing() -> None:
    result = await simulate(parse_scenario(REFUSED))

    output = result.to_json()
    before_period, not_allowed, ended = output["rejections"]
    # D before the period being billed (R7); a prorated first invoice the plan does not allow
    # (R8); a contract that has ended takes no more commands.
    assert (before_period["on"], before_period["action"]) == ("2027-04-10", "switch")
    assert before_period["error"].startswith(
        "Cannot cancel on 2027-03-15: that is before the period currently billed, 2027-04-01 to "
        "2027-05-01"
    )
    assert not_allowed["action"] == "switch"
    assert "plan office does not allow it" in not_allowed["error"]
    assert ended["on"] == "2027-04-25"
    assert "contract c2 is cancelled; it ended on 2027-04-20" in ended["error"]
    assert [contract["id"] for contract in output["contracts"]] == ["c1", "c2"]
    assert [(c["status"], c["end"]) for c in output["contracts"]] == [
        ("active", None),
        ("cancelled", "2027-04-20"),
    ]
    # c1 goes on as if nothing had been asked: full periods on the 1st.
    assert [
        (invoice["date"], invoice["total"])
        for invoice in output["invoices"]
        if invoice["contract"] == "c1"
    ] == [("2027-03-01", "600.00"), ("2027-04-01", "600.00"), ("2027-05-01", "600.00")]
    assert [command.accepted for command in result.commands] == [False, False, True, False]
    assert output["violations"] == []


# --- validation ----------------------------------------------------------------------------------

VALID = """
currency: EUR
timezone: Europe/Berlin
plans:
  - {code: desk, price: 600.00}
  - {code: office, price: 900.00}
contracts:
  - {id: c1, customer: Ada, plan: desk, start: 2027-03-01}
actions:
  - on: 2027-03-10
    do:
      switch: {contract: c1, to: office, on: 2027-03-21, prorate: true}
until: 2027-05-01
"""


def test_a_switch_takes_the_commands_defaults() -> None:
    [action] = parse_scenario(VALID).actions

    switch = action.do.switch
    assert switch is not None
    assert (switch.prorate_first_invoice, switch.id, switch.price) == (None, None, None)
    without_prorate = parse_scenario(VALID.replace(", prorate: true", "")).actions[0].do.switch
    assert without_prorate is not None
    assert without_prorate.prorate is False


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("to: office", "to: ofice"), "actions[0].do.switch.to: no plan 'ofice'"),
        (("contract: c1,", "contract: c9,"), "actions[0].do.switch.contract: no contract 'c9'"),
        (("prorate: true", "price: 900.001"), "actions[0].do.switch.price: The amount 900.001"),
        (("prorate: true", "price: 0"), "actions[0].do.switch.price: "),
        (("prorate: true", "id: c1"), "actions[0].do.switch.id: contract c1 already exists"),
        (("prorate: true", "id: c 2"), "actions[0].do.switch.id: String should match"),
        (("on: 2027-03-21, ", ""), "actions[0].do.switch.on: Field required"),
        (("on: 2027-03-21", "on: 2027-02-30"), "actions[0].do.switch.on: "),
        (("prorate: true", "at: 2027-03-21"), "actions[0].do.switch.at: Extra inputs"),
    ],
)
def test_an_invalid_switch_names_the_place_of_the_problem(
    change: tuple[str, str], problem: str
) -> None:
    old, new = change
    assert old in VALID

    with pytest.raises(ScenarioError) as raised:
        parse_scenario(VALID.replace(old, new, 1))

    assert any(line.startswith(problem) for line in raised.value.problems), raised.value.problems


def test_later_actions_may_name_the_new_term() -> None:
    later = "  - {on: 2027-04-10, do: {cancel: {contract: NEW, date: 2027-05-01}}}\nuntil:"

    parse_scenario(VALID.replace("until:", later.replace("NEW", "c1-t2")))  # the default id
    parse_scenario(
        VALID.replace("prorate: true", "id: c1-office").replace(
            "until:", later.replace("NEW", "c1-office")
        )
    )
    with pytest.raises(ScenarioError, match=r"actions\[1\]\.do\.cancel\.contract: no contract"):
        parse_scenario(VALID.replace("until:", later.replace("NEW", "c1-office")))


def test_an_automated_switch_may_not_start_a_contract_the_scenario_already_names() -> None:
    """A refused new term named c1-t2 must not be taken for the switch's successor (R5)."""
    taken = (
        "  - {on: 2027-03-05, do: {new_term: {from: c1, id: c1-t2, plan: office, "
        "start: 2027-04-01}}}\n"
        "  - {on: 2027-03-06, do: {schedule_change: {contract: c1, next_plan: office}}}\n"
        "  - {on: 2027-03-07, do: {clear_change: {contract: c1}}}\n"
        "  - {on: 2027-03-08, do: {schedule_change: {contract: c1, next_plan: office}}}\n"
        "until:"
    )

    with pytest.raises(ScenarioError) as raised:
        parse_scenario(VALID.replace("until:", taken))

    assert list(raised.value.problems) == [
        "actions[2].do.schedule_change: the switch would start contract c1-t2, which the "
        "scenario already names; give the other contract another id"
    ]
