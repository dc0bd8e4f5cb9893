"""Contract terms (§3b) as pure rules: spans (R2's clamping), the notice period (R14), the minimum
term and early termination (R15), renewal (R16), freezes (R17), scheduled prices (R18) and the
automated change with a price (R19), with the worked examples of SPEC §4."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing import adjustments, lifecycle, rules, term_dates
from billing.contract import (
    Command,
    Contract,
    ContractStatus,
    InvoiceLine,
    LineKind,
    Location,
    Plan,
    new_contract,
)
from billing.coverage import check_contract
from billing.decisions import Decision, Rejection, RejectionCode
from billing.term_dates import current_freeze, freeze_status
from billing.terms import InvalidSpanError, Renewal, Terms, commitment_end, parse_span

D = Decimal
BERLIN = Location(id="ber", name="Berlin", timezone="Europe/Berlin", currency="EUR")
WHO = Command(actor="alice", reason="customer asked")
NO_REASON = Command(actor="alice")


def plan(price: str, *, code: str = "DESK", **terms: object) -> Plan:
    return Plan(
        code=code,
        name=code.title(),
        location_id=BERLIN.id,
        price=D(price),
        terms=Terms.model_validate(terms),
    )


def run(contract: Contract, until: date) -> tuple[Contract, list[lifecycle.Step]]:
    """Every date of the contract up to `until`, as the workflow steps through them."""
    steps = []
    while (day := lifecycle.next_event_date(contract)) is not None and day <= until:
        step = lifecycle.advance(contract)
        steps.append(step)
        contract = step.contract
    return contract, steps


def lines(steps: list[lifecycle.Step]) -> list[tuple[date, str, date, date, Decimal]]:
    return [
        (step.day, line.kind.value, line.period_start, line.period_end, line.amount)
        for step in steps
        if step.invoice is not None
        for line in step.invoice.lines
    ]


def accepted(outcome: Decision | Rejection) -> Decision:
    assert isinstance(outcome, Decision), outcome
    return outcome


def refused(outcome: Decision | Rejection, code: RejectionCode) -> str:
    assert isinstance(outcome, Rejection), outcome
    assert outcome.code == code.value
    return outcome.message


# --- spans ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day", "after"),
    [
        ("30 days", date(2027, 3, 10), date(2027, 4, 9)),
        ("2 weeks", date(2027, 3, 10), date(2027, 3, 24)),
        ("1 month", date(2027, 1, 31), date(2027, 2, 28)),
        ("1 month", date(2028, 1, 31), date(2028, 2, 29)),
        ("12 months", date(2027, 1, 1), date(2028, 1, 1)),
        ("1 year", date(2028, 2, 29), date(2029, 2, 28)),
    ],
)
def test_a_span_adds_to_a_date_as_r2_does(text: str, day: date, after: date) -> None:
    assert parse_span(text).after(day) == after


@pytest.mark.parametrize("text", ["", "month", "0 days", "-1 month", "3 fortnights", "11 years"])
def test_a_span_that_is_not_a_count_and_a_unit_is_refused(text: str) -> None:
    with pytest.raises(InvalidSpanError, match="write a count and a unit"):
        parse_span(text)


def test_a_contract_overrides_the_plan_terms_it_is_given() -> None:
    terms = Terms(notice="1 month", minimum_term="12 months", renewal=Renewal.RENEW)
    assert terms.overridden_by(notice="30 days", minimum_term=None) == Terms(
        notice="30 days", minimum_term="12 months", renewal=Renewal.RENEW
    )
    assert Terms().describe() == "none"
    assert terms.describe() == "notice 1 month, minimum term 12 months, then renew"


def test_a_term_that_replaces_another_keeps_the_later_commitment_end() -> None:
    own = Terms(minimum_term="6 months")
    assert commitment_end(date(2027, 4, 1), own) == date(2027, 10, 1)
    assert commitment_end(date(2027, 4, 1), own, date(2028, 1, 1)) == date(2028, 1, 1)
    assert commitment_end(date(2027, 4, 1), own, date(2027, 5, 1)) == date(2027, 10, 1)
    assert commitment_end(date(2027, 4, 1), Terms(), date(2027, 5, 1)) == date(2027, 5, 1)


# --- R14: notice ---------------------------------------------------------------------------------


def notice_contract() -> Contract:
    """SPEC §4: notice 30 days, next invoice 2027-04-01."""
    contract = new_contract(
        id="n1",
        customer_id="m1",
        location=BERLIN,
        plan=plan("600.00", notice="30 days"),
        start=date(2027, 3, 1),
    )
    contract, _ = run(contract, date(2027, 3, 1))
    assert contract.next_invoice_date == date(2027, 4, 1)
    return contract


def test_notice_worked_example() -> None:
    contract, today = notice_contract(), date(2027, 3, 10)
    message = refused(
        rules.cancel_at_next_invoice(contract, requested=WHO, today=today), RejectionCode.NOTICE
    )
    assert "takes effect on 2027-04-09 at the earliest" in message
    assert "The first invoice date allowed is 2027-05-01" in message
    assert "`contracts cancel n1 --date 2027-05-01`" in message
    refused(
        rules.cancel(contract, date=date(2027, 4, 8), prorate=True, requested=WHO, today=today),
        RejectionCode.NOTICE,
    )
    decision = accepted(
        rules.cancel(contract, date=date(2027, 4, 9), prorate=True, requested=WHO, today=today)
    )
    assert decision.contract.cancellation is not None
    assert decision.contract.cancellation.date == date(2027, 4, 9)


def test_an_override_needs_a_reason_and_is_written_into_the_effect() -> None:
    contract, today = notice_contract(), date(2027, 3, 10)
    refused(
        rules.cancel_at_next_invoice(
            contract, requested=NO_REASON, today=today, override_terms=True
        ),
        RejectionCode.OVERRIDE_WITHOUT_REASON,
    )
    decision = accepted(
        rules.cancel_at_next_invoice(contract, requested=WHO, today=today, override_terms=True)
    )
    assert decision.effect.endswith(
        "Terms overridden: notice period 30 days (earliest date 2027-04-09)."
    )


def test_a_plan_change_needs_no_notice() -> None:
    contract = notice_contract()
    other = plan("700.00", code="OFFICE")
    decision = accepted(
        rules.schedule_change(contract, next_plan=other, requested=WHO, today=date(2027, 3, 25))
    )
    assert decision.contract.scheduled_change is not None


# --- R15: minimum term ---------------------------------------------------------------------------


def committed_contract() -> Contract:
    """SPEC §4: 900.00/month from 2027-01-01, minimum term 12 months, run to 06-10."""
    contract = new_contract(
        id="m1",
        customer_id="m1",
        location=BERLIN,
        plan=plan("900.00", minimum_term="12 months"),
        start=date(2027, 1, 1),
    )
    assert contract.commitment_end == date(2028, 1, 1)
    contract, _ = run(contract, date(2027, 6, 10))
    return contract


def test_early_termination_worked_example() -> None:
    contract, today, day = committed_contract(), date(2027, 6, 10), date(2027, 6, 20)
    message = refused(
        rules.cancel(contract, date=day, prorate=True, requested=WHO, today=today),
        RejectionCode.MINIMUM_TERM,
    )
    assert "committed until 2028-01-01 (minimum term 12 months)" in message
    assert "`contracts cancel m1 --date 2027-06-20 --charge-remaining-term`" in message
    decision = accepted(
        rules.cancel(
            contract,
            date=day,
            prorate=True,
            requested=WHO,
            today=today,
            charge_remaining_term=True,
        )
    )
    assert decision.effect.endswith(
        "The committed days 2027-06-20 to 2028-01-01 are charged on 2027-06-20 as early "
        "termination: 5,730.00 EUR."
    )
    ended, steps = run(decision.contract, date(2027, 6, 20))
    assert lines(steps)[-2:] == [
        (day, "proration_credit", day, date(2027, 7, 1), D("-330.00")),
        (day, "early_termination", day, date(2028, 1, 1), D("5730.00")),
    ]
    assert ended.status is ContractStatus.CANCELLED


@pytest.mark.parametrize(
    ("day", "prorate", "from_"),
    [
        (date(2027, 6, 20), False, date(2027, 7, 1)),  # nothing credited: from the period's end
        (date(2027, 8, 10), True, date(2027, 8, 10)),  # last invoice cut at D
        (date(2027, 8, 10), False, date(2027, 9, 1)),  # last invoice charges its whole period
    ],
)
def test_early_termination_starts_where_what_is_billed_ends(
    day: date, prorate: bool, from_: date
) -> None:
    contract = committed_contract()
    decision = accepted(
        rules.cancel(
            contract,
            date=day,
            prorate=prorate,
            requested=WHO,
            today=date(2027, 6, 10),
            charge_remaining_term=True,
        )
    )
    _, steps = run(decision.contract, day)
    termination = [line for line in lines(steps) if line[1] == "early_termination"]
    value = lifecycle.early_termination_line(contract, from_)
    assert value is not None
    assert termination == [(day, "early_termination", from_, date(2028, 1, 1), value.amount)]


def test_an_override_ends_inside_the_commitment_without_charging_it() -> None:
    contract = committed_contract()
    decision = accepted(
        rules.cancel(
            contract,
            date=date(2027, 7, 1),
            prorate=False,
            requested=WHO,
            today=date(2027, 6, 10),
            override_terms=True,
        )
    )
    assert "Terms overridden: minimum term to 2028-01-01, nothing charged for it." in (
        decision.effect
    )
    _, steps = run(decision.contract, date(2027, 7, 1))
    assert not [line for line in lines(steps) if line[1] == "early_termination"]


def test_after_the_commitment_a_cancellation_needs_nothing() -> None:
    contract = committed_contract()
    contract, _ = run(contract, date(2028, 1, 1))
    accepted(
        rules.cancel(
            contract, date=date(2028, 1, 5), prorate=True, requested=WHO, today=date(2028, 1, 2)
        )
    )


def test_a_switch_keeps_the_commitment() -> None:
    contract = committed_contract()
    office = plan("1200.00", code="OFFICE", minimum_term="3 months")
    decision = accepted(
        rules.schedule_change(contract, next_plan=office, requested=WHO, today=date(2027, 6, 10))
    )
    step = lifecycle.advance(decision.contract)
    assert step.successor is not None
    assert step.successor.commitment_end == date(2028, 1, 1)  # later than 07-01 + 3 months


@given(
    start=st.dates(date(2027, 1, 1), date(2027, 12, 31)),
    months=st.integers(1, 24),
    offset=st.integers(0, 700),
)
def test_early_termination_is_the_value_of_the_committed_days(
    start: date, months: int, offset: int
) -> None:
    """R15 and R20: the line is worth what the committed days are, period by period."""
    contract = new_contract(
        id="h1",
        customer_id="m1",
        location=BERLIN,
        plan=plan("123.45", minimum_term=f"{months} months"),
        start=start,
    )
    assert contract.commitment_end is not None
    billed_end = start + timedelta(days=offset)
    line = lifecycle.early_termination_line(contract, billed_end)
    if billed_end >= contract.commitment_end:
        assert line is None
        return
    assert isinstance(line, InvoiceLine)
    assert line.kind is LineKind.EARLY_TERMINATION
    assert (line.period_start, line.period_end) == (billed_end, contract.commitment_end)
    whole_months = months - (1 if offset else 0)
    assert line.amount >= D("123.45") * max(whole_months - offset // 28, 0)


# --- R16: renewal --------------------------------------------------------------------------------


@pytest.mark.parametrize("notice", [None, "1 month"])
def test_renew_records_renewal_upcoming_then_renews_the_commitment(notice: str | None) -> None:
    terms = {"minimum_term": "3 months", "renewal": "renew"}
    contract = new_contract(
        id="r1",
        customer_id="m1",
        location=BERLIN,
        plan=plan("100.00", **terms, **({"notice": notice} if notice else {})),
        start=date(2027, 1, 1),
    )
    contract, steps = run(contract, date(2027, 7, 1))
    # A month before each commitment end, or 30 days: 04-01 − 30 days is 03-02, 07-01 − 30 is 06-01.
    noticed = [date(2027, 3, 1) if notice else date(2027, 3, 2), date(2027, 6, 1)]
    upcoming = [step.day for step in steps if "Renewal upcoming" in step.summary]
    renewed = [step.day for step in steps if "Renewed" in step.summary]
    assert upcoming == noticed
    assert renewed == [date(2027, 4, 1), date(2027, 7, 1)]
    assert contract.commitment_end == date(2027, 10, 1)
    assert contract.status is ContractStatus.ACTIVE
    # Every served day is still billed once: the term dates add no line.
    assert (
        check_contract(
            contract, [line for step in steps if step.invoice for line in step.invoice.lines]
        )
        == []
    )


def test_end_ends_the_contract_on_its_commitment_end_without_proration() -> None:
    contract = new_contract(
        id="e1",
        customer_id="m1",
        location=BERLIN,
        plan=plan("100.00", minimum_term="3 months", renewal="end"),
        start=date(2027, 1, 15),
        anchor=date(2027, 1, 1),
    )
    assert contract.commitment_end == date(2027, 4, 15)
    contract, steps = run(contract, date(2027, 6, 1))
    assert contract.status is ContractStatus.CANCELLED
    assert contract.end == date(2027, 4, 15)
    assert "Renewal upcoming: the contract ends on 2027-04-15" in steps[-3].summary
    # R7 without proration: the last invoice, on 04-01, charges its whole period.
    assert lines(steps)[-1] == (
        date(2027, 4, 1),
        "plan",
        date(2027, 4, 1),
        date(2027, 5, 1),
        D("100.00"),
    )


def test_end_keeps_a_later_end_an_admin_set_and_says_so() -> None:
    """R16, `end`: a cancellation or a change set for after the commitment end stands, and the
    "renewal upcoming" entry says when the contract really ends, not the commitment end."""
    contract = new_contract(
        id="e2",
        customer_id="m1",
        location=BERLIN,
        plan=plan("300.00", minimum_term="3 months", renewal="end"),
        start=date(2027, 1, 1),
    )
    contract, _ = run(contract, date(2027, 2, 10))
    cancelled = accepted(
        rules.cancel(
            contract, date=date(2027, 5, 15), prorate=True, requested=WHO, today=date(2027, 2, 10)
        )
    )
    ended, steps = run(cancelled.contract, date(2027, 6, 1))
    (noticed,) = [step for step in steps if "Renewal upcoming" in step.summary]
    assert noticed.day == date(2027, 3, 2)
    assert noticed.summary == (
        "Renewal upcoming: its term ends on 2027-04-01 (renewal: end); the contract ends on "
        "2027-05-15 instead, as cancelled by alice."
    )
    assert ended.end == date(2027, 5, 15)

    # A yearly plan: the switch on the next invoice date comes after the commitment end.
    yearly = new_contract(
        id="e3",
        customer_id="m1",
        location=BERLIN,
        plan=plan("3000.00", minimum_term="6 months", renewal="end").model_copy(
            update={"every": "1 year"}
        ),
        start=date(2027, 1, 1),
    )
    yearly, _ = run(yearly, date(2027, 2, 10))
    switching = accepted(
        rules.schedule_change(
            yearly, next_plan=plan("200.00", code="FLEX"), requested=WHO, today=date(2027, 2, 10)
        )
    )
    _, steps = run(switching.contract, date(2027, 6, 1))
    (noticed,) = [step for step in steps if "Renewal upcoming" in step.summary]
    assert noticed.summary == (
        "Renewal upcoming: its term ends on 2027-07-01 (renewal: end); the contract switches "
        "to plan FLEX on 2028-01-01 instead, as scheduled."
    )
    assert noticed.contract.cancellation is None


def test_effects_look_past_a_renewal_before_the_date_they_describe() -> None:
    """A renewal (R16) between today and the switch or the cancellation date only changes the
    terms: the effect still describes the switch's first invoice and the credit on the date."""
    contract = new_contract(
        id="r3",
        customer_id="m1",
        location=BERLIN,
        plan=plan("400.00", minimum_term="3 months", renewal="renew"),
        start=date(2027, 1, 10),
        anchor=date(2027, 1, 1),
    )
    contract, _ = run(contract, date(2027, 4, 5))
    assert (contract.commitment_end, contract.next_invoice_date) == (
        date(2027, 4, 10),
        date(2027, 5, 1),
    )
    switching = accepted(
        rules.schedule_change(
            contract, next_plan=plan("600.00", code="FLEX"), requested=WHO, today=date(2027, 4, 5)
        )
    )
    assert switching.effect == (
        "Contract r3 switches from plan DESK to plan FLEX on its next invoice date, 2027-05-01: "
        "a new contract at 600.00 EUR starts that day and is invoiced for its full first period."
    )
    cancelled = accepted(
        rules.cancel(
            contract, date=date(2027, 4, 20), prorate=True, requested=WHO, today=date(2027, 4, 5)
        )
    )
    assert cancelled.effect.endswith(
        "A proration credit of 146.67 EUR for 2027-04-20 to 2027-05-01 (11 of 30 days) will be "
        "issued on 2027-04-20."
    )
    _, steps = run(cancelled.contract, date(2027, 4, 20))
    assert lines(steps)[-1] == (
        date(2027, 4, 20),
        "proration_credit",
        date(2027, 4, 20),
        date(2027, 5, 1),
        D("-146.67"),
    )


# --- R17: freezes --------------------------------------------------------------------------------


def freeze_contract(**terms: Any) -> Contract:
    """SPEC §4: 500.00/month, minimum term to 2027-10-01; run to 05-20."""
    contract = new_contract(
        id="f1",
        customer_id="m1",
        location=BERLIN,
        plan=plan("500.00", minimum_term="12 months", **terms),
        start=date(2026, 10, 1),
    )
    contract, _ = run(contract, date(2027, 5, 20))
    return contract


def test_freeze_worked_example() -> None:
    contract = freeze_contract()
    decision = accepted(
        adjustments.freeze(contract, cycles=1, requested=WHO, today=date(2027, 5, 20))
    )
    assert decision.contract.commitment_end == date(2027, 11, 1)
    after, steps = run(decision.contract, date(2027, 7, 1))
    assert [step.day for step in steps] == [date(2027, 6, 1), date(2027, 7, 1)]
    assert steps[0].invoice is None
    assert lines(steps) == [
        (date(2027, 7, 1), "plan", date(2027, 7, 1), date(2027, 8, 1), D("500.00"))
    ]
    assert current_freeze(after) is None


def test_a_freeze_is_refused_when_one_runs_and_beyond_the_limits() -> None:
    contract = freeze_contract(max_freeze_cycles=2, max_freezes_per_year=1)
    today = date(2027, 5, 20)
    refused(
        adjustments.freeze(contract, cycles=3, requested=WHO, today=today),
        RejectionCode.FREEZE_LIMIT,
    )
    frozen = accepted(adjustments.freeze(contract, cycles=2, requested=WHO, today=today))
    refused(
        adjustments.freeze(frozen.contract, cycles=1, requested=WHO, today=today),
        RejectionCode.CONFLICT,
    )
    after, _ = run(frozen.contract, date(2027, 8, 1))
    message = refused(
        adjustments.freeze(after, cycles=1, requested=WHO, today=date(2027, 8, 2)),
        RejectionCode.FREEZE_LIMIT,
    )
    assert "The first invoice date a new freeze may start is 2028-06-01" in message
    overridden = accepted(
        adjustments.freeze(
            after, cycles=1, requested=WHO, today=date(2027, 8, 2), override_terms=True
        )
    )
    assert overridden.effect.endswith(
        "Terms overridden: at most 1 freeze a year (max_freezes_per_year)."
    )


def test_a_freeze_waits_for_a_pending_cancellation_or_change() -> None:
    contract = freeze_contract()
    cancelled = accepted(
        rules.cancel(
            contract,
            date=date(2027, 12, 1),
            prorate=False,
            requested=WHO,
            today=date(2027, 5, 20),
        )
    )
    refused(
        adjustments.freeze(cancelled.contract, cycles=1, requested=WHO, today=date(2027, 5, 20)),
        RejectionCode.CONFLICT,
    )


def test_unfreeze_ends_the_freeze_at_the_next_invoice_date() -> None:
    contract = freeze_contract()
    frozen = accepted(
        adjustments.freeze(contract, cycles=3, requested=WHO, today=date(2027, 5, 20))
    )
    assert frozen.contract.commitment_end == date(2028, 1, 1)
    running, _ = run(frozen.contract, date(2027, 6, 1))
    undone = accepted(adjustments.unfreeze(running, requested=WHO, today=date(2027, 6, 5)))
    assert undone.contract.freezes[-1].end == date(2027, 7, 1)
    assert undone.contract.commitment_end == date(2027, 11, 1)  # one cycle frozen
    _, steps = run(undone.contract, date(2027, 7, 1))
    assert lines(steps) == [
        (date(2027, 7, 1), "plan", date(2027, 7, 1), date(2027, 8, 1), D("500.00"))
    ]
    refused(
        adjustments.unfreeze(contract, requested=WHO, today=date(2027, 5, 20)),
        RejectionCode.NOT_FROZEN,
    )


def test_the_last_frozen_period_takes_no_second_freeze_and_has_nothing_to_unfreeze() -> None:
    """A freeze whose last period runs now ends on the next invoice date anyway: a new freeze
    from then would chain past the limit, and an unfreeze would change nothing."""
    contract = freeze_contract(max_freeze_cycles=1)
    frozen = accepted(
        adjustments.freeze(contract, cycles=1, requested=WHO, today=date(2027, 5, 20))
    )
    running, _ = run(frozen.contract, date(2027, 6, 1))
    assert freeze_status(running) == "running"
    assert current_freeze(running) is None
    message = refused(
        adjustments.freeze(running, cycles=1, requested=WHO, today=date(2027, 6, 10)),
        RejectionCode.CONFLICT,
    )
    assert message == (
        "Cannot freeze the contract: contract f1 is frozen until 2027-07-01, its next invoice "
        "date. Ask for a new freeze once billing resumes on 2027-07-01."
    )
    message = refused(
        adjustments.unfreeze(running, requested=WHO, today=date(2027, 6, 10)),
        RejectionCode.NOT_FROZEN,
    )
    assert "ends on 2027-07-01, its next invoice date, already" in message
    resumed, _ = run(running, date(2027, 7, 1))
    assert freeze_status(resumed) is None
    accepted(adjustments.freeze(resumed, cycles=1, requested=WHO, today=date(2027, 7, 2)))


def test_commands_on_an_ended_contract_point_to_what_continues_it() -> None:
    contract = freeze_contract()
    ended = accepted(
        rules.cancel(
            contract,
            date=date(2027, 5, 20),
            prorate=False,
            requested=WHO,
            today=date(2027, 5, 20),
            override_terms=True,
        )
    )
    after, _ = run(ended.contract, date(2027, 5, 20))
    for outcome in (
        adjustments.freeze(after, cycles=1, requested=WHO, today=date(2027, 5, 21)),
        adjustments.unfreeze(after, requested=WHO, today=date(2027, 5, 21)),
        adjustments.set_price(
            after, price=D("450.00"), from_=None, requested=WHO, today=date(2027, 5, 21)
        ),
    ):
        assert isinstance(outcome, Rejection)
        assert "nothing left to cancel" not in outcome.message
        assert "contracts new-term --from f1" in outcome.message


def test_a_member_who_leaves_after_the_commitment_end_does_not_renew() -> None:
    contract = new_contract(
        id="r3",
        customer_id="m1",
        location=BERLIN,
        plan=plan("100.00", minimum_term="3 months", renewal="renew"),
        start=date(2027, 1, 1),
    )
    leaving = accepted(
        rules.cancel(
            contract,
            date=date(2027, 4, 15),
            prorate=True,
            requested=WHO,
            today=date(2027, 1, 10),
        )
    ).contract
    assert term_dates.renewal_date(leaving) is None
    assert term_dates.renewal_notice_date(leaving) is None
    after, steps = run(leaving, date(2027, 5, 1))
    assert not [step for step in steps if "Renew" in step.summary]
    assert after.commitment_end == date(2027, 4, 1)
    assert after.end == date(2027, 4, 15)


# --- R18: prices; R19: a change with a price -----------------------------------------------------


def test_a_price_applies_from_the_first_invoice_date_on_or_after_its_date() -> None:
    contract = freeze_contract()
    decision = accepted(
        adjustments.set_price(
            contract,
            price=D("550"),
            from_=date(2027, 6, 15),
            requested=WHO,
            today=date(2027, 5, 20),
        )
    )
    assert decision.contract.scheduled_price is not None
    assert decision.contract.scheduled_price.effective == date(2027, 7, 1)
    after, steps = run(decision.contract, date(2027, 7, 1))
    assert [line[-1] for line in lines(steps)] == [D("500.00"), D("550.00")]
    assert after.price == D("550.00")
    assert after.custom_price
    cleared = accepted(
        rules.clear_change(decision.contract, requested=WHO, today=date(2027, 5, 20))
    )
    assert cleared.contract.scheduled_price is None
    refused(
        adjustments.set_price(
            contract, price=D("550"), from_=date(2027, 5, 1), requested=WHO, today=date(2027, 5, 20)
        ),
        RejectionCode.DATE_IN_PAST,
    )


def test_a_change_with_a_price_lifts_the_custom_price_block() -> None:
    contract = new_contract(
        id="c9",
        customer_id="m1",
        location=BERLIN,
        plan=plan("500.00"),
        start=date(2027, 1, 1),
        price="450",
    )
    office = plan("800.00", code="OFFICE")
    message = refused(
        rules.schedule_change(contract, next_plan=office, requested=WHO, today=date(2026, 12, 5)),
        RejectionCode.INACTIVE,
    )
    assert message
    contract, _ = run(contract, date(2027, 1, 1))
    message = refused(
        rules.schedule_change(contract, next_plan=office, requested=WHO, today=date(2027, 1, 5)),
        RejectionCode.CUSTOM_PRICE,
    )
    assert "`contracts change c9 --next-plan OFFICE --price PRICE`" in message
    decision = accepted(
        rules.schedule_change(
            contract, next_plan=office, requested=WHO, today=date(2027, 1, 5), price=D("700")
        )
    )
    step = lifecycle.advance(decision.contract)
    assert step.successor is not None
    assert step.successor.price == D("700.00")


# --- R20 with terms ---------------------------------------------------------------------------


def test_served_days_hold_through_a_freeze_a_price_change_and_early_termination() -> None:
    contract = freeze_contract()
    frozen = accepted(
        adjustments.freeze(contract, cycles=2, requested=WHO, today=date(2027, 5, 20))
    )
    repriced = accepted(
        adjustments.set_price(
            frozen.contract, price=D("520"), from_=None, requested=WHO, today=date(2027, 5, 20)
        )
    )
    running, steps = run(repriced.contract, date(2027, 9, 5))
    ending = accepted(
        rules.cancel(
            running,
            date=date(2027, 9, 20),
            prorate=True,
            requested=WHO,
            today=date(2027, 9, 5),
            charge_remaining_term=True,
        )
    )
    ended, more = run(ending.contract, date(2027, 9, 20))
    everything = [
        line
        for step in (*run(freeze_contract_from_start(), date(2027, 5, 20))[1], *steps, *more)
        if step.invoice
        for line in step.invoice.lines
    ]
    assert ended.status is ContractStatus.CANCELLED
    assert check_contract(ended, everything) == []
    # A frozen day billed, or an early termination at the wrong amount, is reported.
    extra = InvoiceLine(
        kind=LineKind.PLAN,
        period_start=date(2027, 6, 1),
        period_end=date(2027, 7, 1),
        amount=D("520.00"),
        description="billed while frozen",
    )
    assert [v.kind.value for v in check_contract(ended, [*everything, extra])] == ["overlap"]
    wrong = [
        line.model_copy(update={"amount": line.amount + 1})
        if line.kind is LineKind.EARLY_TERMINATION
        else line
        for line in everything
    ]
    assert [v.kind.value for v in check_contract(ended, wrong)] == ["wrong amount"]


def freeze_contract_from_start() -> Contract:
    return new_contract(
        id="f1",
        customer_id="m1",
        location=BERLIN,
        plan=plan("500.00", minimum_term="12 months"),
        start=date(2026, 10, 1),
    )


def test_a_cancellation_inside_a_freeze_says_its_last_period_bills_nothing() -> None:
    """A cancellation past the next invoice date whose last period is frozen (R17) issues no last
    invoice: the served days up to the end are the frozen ones."""
    contract = freeze_contract()
    frozen = accepted(
        adjustments.freeze(contract, cycles=1, requested=WHO, today=date(2027, 5, 20))
    )
    cancelled = accepted(
        rules.cancel(
            frozen.contract,
            date=date(2027, 6, 20),
            prorate=True,
            requested=WHO,
            today=date(2027, 5, 20),
            override_terms=True,
        )
    )
    assert "the last period, 2027-06-01 to 2027-06-20, is frozen: nothing is invoiced" in (
        cancelled.effect
    )
    _, steps = run(cancelled.contract, date(2027, 6, 20))
    assert [step.day for step in steps] == [date(2027, 6, 1), date(2027, 6, 20)]
    assert lines(steps) == []
