"""The admin commands (R5–R8, R10): what each accepts, what it refuses, and what it says."""

from datetime import date
from decimal import Decimal

import pytest

from billing import lifecycle
from billing.contract import (
    Cancellation,
    ChangeKind,
    Command,
    Contract,
    ContractStatus,
    Location,
    Plan,
    ScheduledChange,
    new_contract,
)
from billing.rules import (
    CANCEL_AT_NEXT_INVOICE_WARNING,
    Decision,
    Rejection,
    RejectionCode,
    cancel,
    cancel_at_next_invoice,
    clear_change,
    new_term,
    schedule_change,
    uncancel,
    unknown_plan,
)

NYC = Location(id="nyc", name="New York", timezone="America/New_York", currency="USD")
HOT = Plan(
    code="HOT", name="Hot desk", location_id="nyc", price=Decimal("1000.00"), deposit=Decimal(200)
)
OFFICE = Plan(
    code="OFFICE",
    name="Office",
    location_id="nyc",
    price=Decimal("1500.00"),
    deposit=Decimal(1000),
    prorate_first_invoice=True,
)
FLEX = Plan(code="FLEX", name="Flex", location_id="nyc", price=Decimal("600.00"))
PARIS = Plan(code="PARIS", name="Paris desk", location_id="paris", price=Decimal("900.00"))
ALICE = Command(actor="alice", reason="customer asked")
BOB = Command(actor="bob", reason="")

TODAY = date(2027, 3, 10)


def active(
    plan: Plan = HOT,
    *,
    price: Decimal | None = None,
    start: date = date(2027, 1, 1),
    anchor: date | None = None,
    billed: tuple[date, date] = (date(2027, 3, 1), date(2027, 4, 1)),
    **update: object,
) -> Contract:
    """An active contract billed for `billed`, its next invoice date at the end of it."""
    contract = new_contract(
        id="c1", customer_id="u1", location=NYC, plan=plan, start=start, price=price, anchor=anchor
    )
    return contract.model_copy(
        update={
            "status": ContractStatus.ACTIVE,
            "billed_from": billed[0],
            "billed_through": billed[1],
            "next_invoice_date": billed[1],
            **update,
        }
    )


def inactive(
    plan: Plan = HOT,
    *,
    start: date = date(2027, 5, 1),
    anchor: date | None = None,
    **update: object,
) -> Contract:
    """A contract that starts in the future (after TODAY)."""
    contract = new_contract(
        id="c2", customer_id="u1", location=NYC, plan=plan, start=start, anchor=anchor
    )
    return contract.model_copy(update=update)


def ended(**update: object) -> Contract:
    return active(
        status=ContractStatus.CANCELLED,
        end=date(2027, 3, 5),
        cancellation=Cancellation(date=date(2027, 3, 5), prorate=False, requested=ALICE),
        **update,
    )


def cancelling(on: date = date(2027, 3, 21), **update: object) -> Contract:
    return active(cancellation=Cancellation(date=on, prorate=True, requested=ALICE), **update)


def switching(to: Plan = OFFICE, **update: object) -> Contract:
    change = ScheduledChange(kind=ChangeKind.NEXT_PLAN, next_plan=to, requested=ALICE)
    return active(scheduled_change=change, **update)


def leaving(**update: object) -> Contract:
    change = ScheduledChange(kind=ChangeKind.CANCEL_AT_NEXT_INVOICE, requested=ALICE)
    return active(scheduled_change=change, **update)


def accepted(outcome: Decision | Rejection) -> Decision:
    assert isinstance(outcome, Decision), outcome
    return outcome


def refused(outcome: Decision | Rejection, code: RejectionCode, *fragments: str) -> Rejection:
    assert isinstance(outcome, Rejection), outcome
    assert outcome.code == code.value
    for fragment in fragments:
        assert fragment in outcome.message
    assert outcome.message.endswith(".")
    return outcome


# --- schedule_change (R5) ------------------------------------------------------------------------


def test_schedule_change_switches_on_the_next_invoice_date() -> None:
    decision = accepted(schedule_change(active(), next_plan=OFFICE, requested=ALICE, today=TODAY))
    change = decision.contract.scheduled_change
    assert change == ScheduledChange(kind=ChangeKind.NEXT_PLAN, next_plan=OFFICE, requested=ALICE)
    assert decision.contract.model_copy(update={"scheduled_change": None}) == active()
    assert "from plan HOT to plan OFFICE" in decision.effect
    assert "2027-04-01" in decision.effect
    assert "1,500.00 USD" in decision.effect
    assert decision.warnings == ()
    assert decision.requested == ALICE


def test_schedule_change_replaces_a_scheduled_next_plan() -> None:
    decision = accepted(schedule_change(switching(), next_plan=FLEX, requested=BOB, today=TODAY))
    assert decision.contract.scheduled_change is not None
    assert decision.contract.scheduled_change.next_plan == FLEX
    assert decision.contract.scheduled_change.requested == BOB
    assert "replaces the scheduled switch to plan OFFICE" in decision.effect


def test_schedule_change_to_the_plan_already_scheduled_changes_nothing() -> None:
    contract = switching()
    decision = accepted(schedule_change(contract, next_plan=OFFICE, requested=BOB, today=TODAY))
    assert decision.contract == contract
    assert "nothing changes" in decision.effect


def test_schedule_change_refuses_a_custom_price_naming_both_prices() -> None:
    contract = active(price=Decimal("900.00"))
    refused(
        schedule_change(contract, next_plan=OFFICE, requested=ALICE, today=TODAY),
        RejectionCode.CUSTOM_PRICE,
        "900.00 USD",
        "1,000.00 USD",
        "manual change",
        "`contracts cancel c1 --date DATE`",
        "`contracts new-term --from c1 --plan OFFICE`",
        "`contracts switch c1 --to OFFICE --on DATE`",
    )


def test_schedule_change_refuses_a_plan_of_another_location() -> None:
    refused(
        schedule_change(active(), next_plan=PARIS, requested=ALICE, today=TODAY),
        RejectionCode.OTHER_LOCATION,
        "plan PARIS belongs to location paris",
        "nyc (USD)",
    )


def test_schedule_change_refuses_a_plan_priced_beyond_the_currency() -> None:
    odd = Plan(code="ODD", name="Odd", location_id="nyc", price=Decimal("10.005"))
    refused(
        schedule_change(active(), next_plan=odd, requested=ALICE, today=TODAY),
        RejectionCode.INVALID_PRICE,
        "plan ODD",
        "more decimals than USD allows",
    )


def test_schedule_change_refuses_the_current_plan() -> None:
    refused(
        schedule_change(active(), next_plan=HOT, requested=ALICE, today=TODAY),
        RejectionCode.SAME_PLAN,
        "already on plan HOT",
    )
    refused(
        schedule_change(switching(), next_plan=HOT, requested=ALICE, today=TODAY),
        RejectionCode.SAME_PLAN,
        "switch to OFFICE",
        "`contracts clear-change c1`",
    )


def test_schedule_change_refuses_a_cancelled_contract() -> None:
    refused(
        schedule_change(ended(), next_plan=OFFICE, requested=ALICE, today=TODAY),
        RejectionCode.CANCELLED,
        "contract c1 is cancelled; it ended on 2027-03-05",
        "`contracts new-term --from c1`",
    )


def test_a_cancellation_whose_date_has_come_counts_as_ended() -> None:
    contract = cancelling(on=TODAY)
    refused(
        schedule_change(contract, next_plan=OFFICE, requested=ALICE, today=TODAY),
        RejectionCode.CANCELLED,
        f"ended on {TODAY}",
    )


def test_schedule_change_refuses_a_contract_that_has_not_started() -> None:
    refused(
        schedule_change(inactive(), next_plan=OFFICE, requested=ALICE, today=TODAY),
        RejectionCode.INACTIVE,
        "it starts on 2027-05-01",
        "future contract",
        "`contracts cancel c2 --date 2027-05-01`",
    )


def test_schedule_change_conflicts_with_a_pending_cancellation() -> None:
    refused(
        schedule_change(cancelling(), next_plan=OFFICE, requested=BOB, today=TODAY),
        RejectionCode.CONFLICT,
        "manual cancellation on 2027-03-21",
        "requested by alice",
        "`contracts uncancel c1`",
    )


def test_schedule_change_conflicts_with_a_cancel_at_next_invoice() -> None:
    refused(
        schedule_change(leaving(), next_plan=OFFICE, requested=BOB, today=TODAY),
        RejectionCode.CONFLICT,
        "a cancellation scheduled for its next invoice date, 2027-04-01",
        "`contracts clear-change c1`",
    )


# --- cancel_at_next_invoice (R6) -----------------------------------------------------------------


def test_cancel_at_next_invoice_is_accepted_with_a_warning() -> None:
    decision = accepted(cancel_at_next_invoice(active(), requested=ALICE, today=TODAY))
    assert decision.contract.scheduled_change == ScheduledChange(
        kind=ChangeKind.CANCEL_AT_NEXT_INVOICE, requested=ALICE
    )
    assert decision.warnings == (CANCEL_AT_NEXT_INVOICE_WARNING,)
    assert decision.warnings[0].startswith(
        "Cancelling at the next invoice date is not the recommended way to cancel: use "
        "`contracts cancel --date`"
    )
    assert "cancelled on its next invoice date, 2027-04-01" in decision.effect
    assert "no invoice is issued for the following period" in decision.effect


def test_cancel_at_next_invoice_twice_changes_nothing() -> None:
    contract = leaving()
    decision = accepted(cancel_at_next_invoice(contract, requested=BOB, today=TODAY))
    assert decision.contract == contract
    assert "nothing changes" in decision.effect
    assert decision.warnings == (CANCEL_AT_NEXT_INVOICE_WARNING,)


def test_cancel_at_next_invoice_refusals() -> None:
    refused(
        cancel_at_next_invoice(ended(), requested=ALICE, today=TODAY),
        RejectionCode.CANCELLED,
        "nothing left to cancel",
    )
    refused(
        cancel_at_next_invoice(inactive(), requested=ALICE, today=TODAY),
        RejectionCode.INACTIVE,
        "it starts on 2027-05-01",
        "`contracts cancel c2 --date 2027-05-01`",
    )


def test_cancel_at_next_invoice_conflicts_with_a_pending_cancellation() -> None:
    refused(
        cancel_at_next_invoice(cancelling(), requested=BOB, today=TODAY),
        RejectionCode.CONFLICT,
        "manual cancellation on 2027-03-21",
        "`contracts uncancel c1`",
    )


def test_cancel_at_next_invoice_conflicts_with_a_scheduled_next_plan() -> None:
    refused(
        cancel_at_next_invoice(switching(), requested=BOB, today=TODAY),
        RejectionCode.CONFLICT,
        "a switch to plan OFFICE scheduled for its next invoice date, 2027-04-01",
        "`contracts clear-change c1`",
    )


# --- clear_change --------------------------------------------------------------------------------


def test_clear_change_removes_a_scheduled_next_plan() -> None:
    decision = accepted(clear_change(switching(), requested=BOB, today=TODAY))
    assert decision.contract == active()
    assert "switch to plan OFFICE" in decision.effect
    assert "invoiced as usual on 2027-04-01" in decision.effect


def test_clear_change_removes_a_cancel_at_next_invoice() -> None:
    decision = accepted(clear_change(leaving(), requested=BOB, today=TODAY))
    assert decision.contract.scheduled_change is None
    assert "Cleared the cancellation scheduled for its next invoice date" in decision.effect


def test_clear_change_refuses_when_nothing_is_scheduled() -> None:
    refused(
        clear_change(active(), requested=BOB, today=TODAY),
        RejectionCode.NOTHING_SCHEDULED,
        "no scheduled change",
    )
    refused(
        clear_change(cancelling(), requested=BOB, today=TODAY),
        RejectionCode.NOTHING_SCHEDULED,
        "manual cancellation on 2027-03-21",
        "`contracts uncancel c1`",
    )
    refused(clear_change(ended(), requested=BOB, today=TODAY), RejectionCode.CANCELLED)


# --- cancel (R7) ---------------------------------------------------------------------------------


def test_cancel_before_the_next_invoice_date_credits_the_rest_of_the_period() -> None:
    decision = accepted(
        cancel(active(), date=date(2027, 3, 21), prorate=True, requested=ALICE, today=TODAY)
    )
    assert decision.contract.cancellation == Cancellation(
        date=date(2027, 3, 21), prorate=True, requested=ALICE
    )
    assert decision.contract.status is ContractStatus.ACTIVE
    assert "ends at 00:00 on 2027-03-21" in decision.effect
    assert "proration credit of 354.84 USD for 2027-03-21 to 2027-04-01" in decision.effect
    assert "issued on 2027-03-21" in decision.effect
    assert decision.warnings == ()


def test_cancel_before_the_next_invoice_date_without_prorate_credits_nothing() -> None:
    decision = accepted(
        cancel(active(), date=date(2027, 3, 21), prorate=False, requested=ALICE, today=TODAY)
    )
    assert "nothing is credited" in decision.effect
    assert "USD" not in decision.effect


def test_cancel_in_a_prorated_stub_credits_against_the_anchored_period() -> None:
    contract = active(
        OFFICE,
        start=date(2027, 3, 21),
        anchor=date(2027, 1, 1),
        billed=(date(2027, 3, 21), date(2027, 4, 1)),
        prorate_first_invoice=True,
    )
    decision = accepted(
        cancel(contract, date=date(2027, 3, 25), prorate=True, requested=ALICE, today=TODAY)
    )
    # 1,500.00 × 7/31: less than the 532.26 billed for the stub.
    assert "proration credit of 338.71 USD" in decision.effect
    assert "(7 of 31 days)" in decision.effect


def test_cancel_on_the_next_invoice_date_ends_without_invoice_or_credit() -> None:
    decision = accepted(
        cancel(active(), date=date(2027, 4, 1), prorate=True, requested=ALICE, today=TODAY)
    )
    assert "its next invoice date: no further invoice is issued, nothing is credited" in (
        decision.effect
    )


def test_cancel_after_the_next_invoice_date_prorates_the_last_invoice() -> None:
    contract = active(FLEX, billed=(date(2027, 4, 1), date(2027, 5, 1)))
    decision = accepted(
        cancel(contract, date=date(2027, 5, 11), prorate=True, requested=ALICE, today=TODAY)
    )
    assert "Invoicing continues" in decision.effect
    assert "the last invoice, on 2027-05-01, covers 2027-05-01 to 2027-05-11" in decision.effect
    assert "prorated (10 of 31 days): 193.55 USD" in decision.effect


def test_cancel_after_the_next_invoice_date_without_prorate_charges_a_full_period() -> None:
    contract = active(FLEX, billed=(date(2027, 4, 1), date(2027, 5, 1)))
    decision = accepted(
        cancel(contract, date=date(2027, 5, 11), prorate=False, requested=ALICE, today=TODAY)
    )
    assert "at the full price, not prorated: 600.00 USD" in decision.effect


def test_cancel_months_ahead_names_the_last_invoice_date_before_it() -> None:
    contract = active(FLEX, billed=(date(2027, 4, 1), date(2027, 5, 1)))
    decision = accepted(
        cancel(contract, date=date(2027, 8, 11), prorate=True, requested=ALICE, today=TODAY)
    )
    assert "the last invoice, on 2027-08-01, covers 2027-08-01 to 2027-08-11" in decision.effect
    on_boundary = accepted(
        cancel(contract, date=date(2027, 9, 1), prorate=True, requested=ALICE, today=TODAY)
    )
    assert "on 2027-08-01, covers 2027-08-01 to 2027-09-01, a full period: 600.00 USD" in (
        on_boundary.effect
    )


def test_cancel_in_the_past_is_allowed_within_the_period_currently_billed() -> None:
    decision = accepted(
        cancel(
            active(), date=date(2027, 3, 5), prorate=True, requested=ALICE, today=date(2027, 3, 21)
        )
    )
    assert decision.contract.cancellation is not None
    assert decision.contract.cancellation.date == date(2027, 3, 5)
    assert "issued on 2027-03-05" in decision.effect
    assert decision.warnings == (
        "The cancellation is retroactive: 2027-03-05 is before today, 2027-03-21, so the "
        "contract ends at once.",
    )


def test_cancel_refuses_a_date_before_the_period_currently_billed() -> None:
    refused(
        cancel(active(), date=date(2027, 2, 15), prorate=True, requested=ALICE, today=TODAY),
        RejectionCode.DATE_BEFORE_BILLED_PERIOD,
        "2027-03-01 to 2027-04-01",
        "Choose 2027-03-01 or later",
    )


def test_cancel_refuses_a_date_before_the_start() -> None:
    refused(
        cancel(inactive(), date=date(2027, 4, 20), prorate=False, requested=ALICE, today=TODAY),
        RejectionCode.DATE_BEFORE_START,
        "starts, on 2027-05-01",
        "Choose 2027-05-01 or later",
    )
    contract = active(start=date(2027, 3, 5), billed=(date(2027, 3, 5), date(2027, 4, 1)))
    refused(
        cancel(contract, date=date(2027, 3, 1), prorate=False, requested=ALICE, today=TODAY),
        RejectionCode.DATE_BEFORE_START,
        "2027-03-05",
    )


def test_cancel_refuses_a_past_date_outside_the_period_currently_billed() -> None:
    # The workflow has not billed the period that began on 04-01 yet.
    refused(
        cancel(
            active(), date=date(2027, 4, 2), prorate=True, requested=ALICE, today=date(2027, 4, 5)
        ),
        RejectionCode.DATE_IN_PAST,
        "Choose 2027-04-05 or later",
    )


def test_cancel_refuses_a_cancelled_contract() -> None:
    refused(
        cancel(ended(), date=date(2027, 3, 21), prorate=True, requested=ALICE, today=TODAY),
        RejectionCode.CANCELLED,
        "ended on 2027-03-05",
    )


def test_cancel_conflicts_with_a_pending_cancellation() -> None:
    refused(
        cancel(cancelling(), date=date(2027, 3, 25), prorate=True, requested=BOB, today=TODAY),
        RejectionCode.CONFLICT,
        "already has a manual cancellation on 2027-03-21 (prorated, requested by alice)",
        "`contracts uncancel c1`",
    )


@pytest.mark.parametrize(
    ("contract", "pending"),
    [
        (switching(), "a switch to plan OFFICE scheduled for its next invoice date, 2027-04-01"),
        (leaving(), "a cancellation scheduled for its next invoice date, 2027-04-01"),
    ],
)
def test_cancel_conflicts_with_a_scheduled_change(contract: Contract, pending: str) -> None:
    refused(
        cancel(contract, date=date(2027, 3, 21), prorate=True, requested=BOB, today=TODAY),
        RejectionCode.CONFLICT,
        pending,
        "`contracts clear-change c1`",
    )


def test_cancel_a_future_contract_on_its_start_date_means_it_never_starts() -> None:
    decision = accepted(
        cancel(inactive(), date=date(2027, 5, 1), prorate=False, requested=ALICE, today=TODAY)
    )
    assert "it never starts, and nothing is invoiced" in decision.effect


def test_cancel_a_future_contract_inside_its_first_stub() -> None:
    contract = inactive(OFFICE, start=date(2027, 5, 10), anchor=date(2027, 1, 1))
    decision = accepted(
        cancel(contract, date=date(2027, 5, 20), prorate=True, requested=ALICE, today=TODAY)
    )
    assert "only invoice, on 2027-05-10, covers 2027-05-10 to 2027-05-20" in decision.effect


def test_cancel_a_future_contract_after_its_first_period() -> None:
    contract = inactive(FLEX, start=date(2027, 5, 10), anchor=date(2027, 1, 1))
    decision = accepted(
        cancel(contract, date=date(2027, 6, 11), prorate=True, requested=ALICE, today=TODAY)
    )
    assert "It starts on 2027-05-10 as planned" in decision.effect
    assert "the last invoice, on 2027-06-01, covers 2027-06-01 to 2027-06-11" in decision.effect
    assert "prorated (10 of 30 days): 200.00 USD" in decision.effect
    aligned = inactive(FLEX, start=date(2027, 5, 1))
    decision = accepted(
        cancel(aligned, date=date(2027, 5, 11), prorate=True, requested=ALICE, today=TODAY)
    )
    assert "the last invoice, on 2027-05-01, covers 2027-05-01 to 2027-05-11" in decision.effect


# --- uncancel ------------------------------------------------------------------------------------


def test_uncancel_undoes_a_pending_cancellation() -> None:
    decision = accepted(uncancel(cancelling(), requested=BOB, today=TODAY))
    assert decision.contract == active()
    assert "Undid the manual cancellation on 2027-03-21" in decision.effect
    assert "invoiced as usual on 2027-04-01" in decision.effect


def test_uncancel_on_a_future_contract() -> None:
    contract = inactive(
        cancellation=Cancellation(date=date(2027, 5, 1), prorate=False, requested=ALICE)
    )
    decision = accepted(uncancel(contract, requested=BOB, today=TODAY))
    assert decision.contract.cancellation is None
    assert "starts on 2027-05-01" in decision.effect


def test_uncancel_refuses_without_a_pending_cancellation() -> None:
    refused(
        uncancel(active(), requested=BOB, today=TODAY),
        RejectionCode.NOTHING_TO_UNDO,
        "no pending manual cancellation",
    )
    refused(
        uncancel(leaving(), requested=BOB, today=TODAY),
        RejectionCode.NOTHING_TO_UNDO,
        "`contracts clear-change c1`",
    )


@pytest.mark.parametrize("today", [date(2027, 3, 21), date(2027, 3, 22)])
def test_uncancel_refuses_once_the_cancellation_date_has_come(today: date) -> None:
    refused(
        uncancel(cancelling(), requested=BOB, today=today),
        RejectionCode.TOO_LATE,
        "ended at 00:00 on 2027-03-21",
        "`contracts new-term --from c1`",
    )


def test_uncancel_refuses_a_cancelled_contract() -> None:
    refused(
        uncancel(ended(), requested=BOB, today=TODAY),
        RejectionCode.CANCELLED,
        "ended on 2027-03-05",
    )


def test_uncancel_conflicts_with_a_next_term() -> None:
    refused(
        uncancel(cancelling(successor_id="c1-t2"), requested=BOB, today=TODAY),
        RejectionCode.CONFLICT,
        "contract c1-t2 is lined up as the next term",
        "contracts switch c1-t2",
    )


# --- new_term (R8) -------------------------------------------------------------------------------


def term(
    old: Contract,
    *,
    id: str = "c1-t2",
    plan: Plan = OFFICE,
    start: date | None = None,
    price: Decimal | None = None,
    anchor: date | None = None,
    prorate_first_invoice: bool = True,
    today: date = TODAY,
    deposit_held: Decimal | None = None,
) -> Decision | Rejection:
    """`new_term` with the defaults a caller passes: plan OFFICE, every other value defaulted."""
    return new_term(
        old,
        id=id,
        plan=plan,
        start=start,
        price=price,
        anchor=anchor,
        prorate_first_invoice=prorate_first_invoice,
        requested=ALICE,
        today=today,
        deposit_held=deposit_held,
    )


def test_new_term_defaults_follow_the_old_contract() -> None:
    decision = accepted(term(cancelling()))
    contract = decision.contract
    assert contract.id == "c1-t2"
    assert contract.status is ContractStatus.INACTIVE
    assert contract.customer_id == "u1"
    assert contract.location == NYC
    assert contract.plan == OFFICE
    assert contract.price == Decimal("1500.00")
    assert not contract.custom_price
    assert contract.start == date(2027, 3, 21)  # the old contract's cancellation date
    assert contract.anchor == date(2027, 1, 1)  # the billing day is kept
    assert contract.prorate_first_invoice
    assert contract.replaces == "c1"
    assert "New term c1-t2 replaces contract c1" in decision.effect
    assert "covers 2027-03-21 to 2027-04-01, prorated (11 of 31 days): 532.26 USD" in (
        decision.effect
    )
    assert "deposit held by contract c1 passes to it" in decision.effect
    assert decision.warnings == ()


def test_new_term_after_an_ended_contract_starts_on_its_end() -> None:
    decision = accepted(term(ended(), today=date(2027, 3, 2)))
    assert decision.contract.start == date(2027, 3, 5)


def test_new_term_after_a_cancel_at_next_invoice_starts_on_that_date() -> None:
    assert lifecycle.term_end(leaving()) == date(2027, 4, 1)
    decision = accepted(term(leaving()))
    assert decision.contract.start == date(2027, 4, 1)
    assert "a full period: 1,500.00 USD" in decision.effect
    assert decision.warnings == (
        "The new term starts on its billing anchor (2027-04-01), so its first invoice is a full "
        "period and the prorate flag has no effect.",
    )


def test_new_term_without_prorate_charges_the_stub_at_the_full_price() -> None:
    decision = accepted(term(cancelling(), prorate_first_invoice=False))
    assert "covers 2027-03-21 to 2027-04-01 at the full price, not prorated: 1,500.00 USD" in (
        decision.effect
    )


def test_new_term_with_its_own_price_anchor_and_start() -> None:
    decision = accepted(
        term(
            cancelling(),
            start=date(2027, 4, 15),
            price=Decimal("1400"),
            anchor=date(2027, 4, 15),
            plan=FLEX,
            prorate_first_invoice=False,
        )
    )
    contract = decision.contract
    assert (contract.start, contract.anchor, contract.price) == (
        date(2027, 4, 15),
        date(2027, 4, 15),
        Decimal("1400.00"),
    )
    assert contract.custom_price
    assert "(custom price)" in decision.effect
    assert any("There is a gap" in warning for warning in decision.warnings)
    assert any(
        "1,400.00 USD differs from plan FLEX's 600.00 USD" in warning
        for warning in decision.warnings
    )


def test_new_term_starting_in_the_past_warns() -> None:
    decision = accepted(term(cancelling(), today=date(2027, 3, 25)))
    assert decision.warnings == (
        "The new term starts in the past, on 2027-03-21: it starts at once, and its first "
        "invoice is dated 2027-03-21.",
    )


def test_new_term_refuses_when_the_old_contract_is_not_cancelled() -> None:
    for start in (None, date(2027, 6, 1)):
        refused(
            term(active(), start=start),
            RejectionCode.NOT_CANCELLED,
            "contract c1 is not cancelled",
            "Cancel it first",
            "`contracts switch c1 --to PLAN --on DATE`",
        )


def test_new_term_refuses_to_overlap_the_old_contract() -> None:
    refused(
        term(cancelling(), start=date(2027, 3, 20)),
        RejectionCode.OVERLAP,
        "starting on 2027-03-20",
        "runs until 2027-03-21",
        "on 2027-03-21 or later",
    )


def test_new_term_refuses_a_prorated_first_invoice_the_plan_does_not_allow() -> None:
    refused(
        term(cancelling(), plan=FLEX, prorate_first_invoice=True),
        RejectionCode.PRORATE_NOT_ALLOWED,
        "plan FLEX does not allow it",
    )


def test_new_term_refuses_a_plan_of_another_location() -> None:
    refused(
        term(cancelling(), plan=PARIS, prorate_first_invoice=False),
        RejectionCode.OTHER_LOCATION,
        "plan PARIS belongs to location paris",
    )


@pytest.mark.parametrize(
    ("price", "fragment"),
    [
        (Decimal(0), "is zero"),
        (Decimal(-10), "is negative"),
        (Decimal("10.001"), "more decimals than USD allows"),
        (Decimal("NaN"), "is not an amount"),
    ],
)
def test_new_term_refuses_a_bad_price(price: Decimal, fragment: str) -> None:
    refused(term(cancelling(), price=price), RejectionCode.INVALID_PRICE, fragment)


def test_new_term_refuses_a_second_successor() -> None:
    refused(
        term(ended(successor_id="c1-t2")),
        RejectionCode.CONFLICT,
        "already has a next term, contract c1-t2",
    )


def test_new_term_conflicts_with_a_scheduled_next_plan() -> None:
    refused(
        term(switching()),
        RejectionCode.CONFLICT,
        "a switch to plan OFFICE",
        "`contracts clear-change c1`",
    )


@pytest.mark.parametrize("new_id", ["c1", "not valid", "", "-x"])
def test_new_term_refuses_a_bad_id(new_id: str) -> None:
    refused(term(cancelling(), id=new_id), RejectionCode.INVALID_ID)


# --- shared --------------------------------------------------------------------------------------


def test_unknown_plan_lists_the_plans_of_the_location() -> None:
    refused(
        unknown_plan("GOLD", location=NYC, known=["OFFICE", "HOT"]),
        RejectionCode.UNKNOWN_PLAN,
        "no plan 'GOLD' at location nyc",
        "(HOT, OFFICE)",
    )


def test_decisions_and_rejections_survive_a_json_round_trip() -> None:
    decision = accepted(schedule_change(active(), next_plan=OFFICE, requested=ALICE, today=TODAY))
    assert Decision.model_validate_json(decision.model_dump_json()) == decision
    rejection = refused(
        schedule_change(ended(), next_plan=OFFICE, requested=ALICE, today=TODAY),
        RejectionCode.CANCELLED,
    )
    assert Rejection.model_validate_json(rejection.model_dump_json()) == rejection
    assert type(rejection.code) is str


def test_clear_change_conflicts_with_a_next_term() -> None:
    contract = active().model_copy(
        update={
            "successor_id": "c1-t2",
            "scheduled_change": ScheduledChange(
                kind=ChangeKind.CANCEL_AT_NEXT_INVOICE, requested=BOB
            ),
        }
    )
    refused(
        clear_change(contract, requested=BOB, today=TODAY),
        RejectionCode.CONFLICT,
        "contract c1-t2 is lined up as its next term",
        "contracts switch c1-t2",
    )
