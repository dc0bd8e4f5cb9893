"""What follows a contract: a new term after it ended (R13), the hints of refusals once a next term
is lined up, and the dates an operator sees while a switch or a cancellation is pending."""

from datetime import date
from decimal import Decimal
from typing import Any

from billing import lifecycle
from billing.contract import Contract
from billing.rules import (
    Decision,
    Rejection,
    RejectionCode,
    cancel,
    cancel_at_next_invoice,
    clear_change,
    schedule_change,
    uncancel,
)
from tests.billing.test_rules import (
    ALICE,
    FLEX,
    HOT,
    OFFICE,
    TODAY,
    accepted,
    active,
    cancelling,
    ended,
    leaving,
    refused,
    switching,
)
from tests.billing.test_rules import (
    term as rules_term,
)


def term(old: Contract, **extra: Any) -> Decision | Rejection:
    """`new_term` on plan OFFICE, its first invoice not prorated, every other value defaulted."""
    return rules_term(old, **{"prorate_first_invoice": False, **extra})


# --- R13: a new term after the old contract ended ------------------------------------------------


def test_a_new_term_months_after_the_end_starts_where_asked_with_a_gap_warning() -> None:
    decision = accepted(term(ended(), start=date(2027, 7, 1), today=date(2027, 6, 20)))
    assert (decision.contract.start, decision.contract.replaces) == (date(2027, 7, 1), "c1")
    assert decision.contract.anchor == ended().anchor  # the billing day is kept (R8)
    assert decision.warnings == (
        "There is a gap: contract c1 ended on 2027-03-05 and the new term starts on 2027-07-01; "
        "the days between are neither served nor billed.",
    )


def test_a_new_term_after_the_end_defaults_to_the_cancellation_date_in_the_past() -> None:
    decision = accepted(term(ended(), today=date(2027, 3, 9)))
    assert decision.contract.start == date(2027, 3, 5)
    assert any("starts in the past, on 2027-03-05" in warning for warning in decision.warnings)


def test_the_deposit_of_an_ended_contract_passes_on_while_it_is_still_held() -> None:
    decision = accepted(term(ended(), deposit_held=Decimal("200.00")))
    assert (
        "Contract c1 still holds a deposit of 200.00 USD, which passes to it; its first invoice "
        "charges the top-up of 800.00 USD." in decision.effect
    )


def test_the_deposit_is_charged_in_full_once_the_old_one_was_refunded() -> None:
    decision = accepted(term(ended(), deposit_held=Decimal(0)))
    assert (
        "Contract c1 holds no deposit any more (refunded when it ended, or never charged): the "
        "first invoice charges plan OFFICE's deposit of 1,000.00 USD in full." in decision.effect
    )


def test_a_larger_held_deposit_is_kept_and_nothing_is_charged() -> None:
    decision = accepted(term(ended(), plan=HOT, deposit_held=Decimal("1000.00")))
    assert decision.effect.endswith(
        "Contract c1 still holds a deposit of 1,000.00 USD, which passes to it."
    )


def test_no_deposit_to_speak_of() -> None:
    decision = accepted(term(ended(), plan=FLEX, deposit_held=Decimal(0)))
    assert decision.effect.endswith("Plan FLEX has no deposit.")


def test_while_the_old_contract_runs_its_deposit_passes_when_it_ends() -> None:
    decision = accepted(term(cancelling()))
    assert decision.effect.endswith("The deposit held by contract c1 passes to it.")


def test_an_ended_contract_with_a_next_term_has_none_other() -> None:
    refused(
        term(ended(successor_id="c1-t2"), start=date(2027, 7, 1)),
        RejectionCode.CONFLICT,
        "already has a next term, contract c1-t2",
    )


# --- hints that work in the state they describe -------------------------------------------------

LINED_UP = {"successor_id": "c1-t2"}
SWITCH_NEXT_TERM = "`contracts switch c1-t2 --to PLAN --on 2027-03-21`"


def test_a_pending_cancellation_with_a_next_term_points_to_that_term_not_to_uncancel() -> None:
    for outcome in (
        schedule_change(cancelling(**LINED_UP), next_plan=OFFICE, requested=ALICE, today=TODAY),
        cancel_at_next_invoice(cancelling(**LINED_UP), requested=ALICE, today=TODAY),
        cancel(
            cancelling(**LINED_UP),
            date=date(2027, 3, 25),
            prorate=False,
            requested=ALICE,
            today=TODAY,
        ),
        uncancel(cancelling(**LINED_UP), requested=ALICE, today=TODAY),
    ):
        rejection = refused(outcome, RejectionCode.CONFLICT, "c1-t2", SWITCH_NEXT_TERM)
        assert "uncancel" not in rejection.message


def test_without_a_next_term_the_cancellation_is_undone_with_uncancel() -> None:
    refused(
        cancel_at_next_invoice(cancelling(), requested=ALICE, today=TODAY),
        RejectionCode.CONFLICT,
        "Undo it first with `contracts uncancel c1`.",
    )


def test_clear_change_names_no_uncancel_when_a_next_term_is_lined_up() -> None:
    lined_up = refused(
        clear_change(cancelling(**LINED_UP), requested=ALICE, today=TODAY),
        RejectionCode.NOTHING_SCHEDULED,
    )
    assert lined_up.message == "Contract c1 has no scheduled change to clear."
    refused(
        clear_change(cancelling(), requested=ALICE, today=TODAY),
        RejectionCode.NOTHING_SCHEDULED,
        "`contracts uncancel c1`",
    )


def test_a_cancel_at_next_invoice_with_a_next_term_points_to_that_term() -> None:
    rejection = refused(
        cancel(
            leaving(**LINED_UP),
            date=date(2027, 3, 25),
            prorate=False,
            requested=ALICE,
            today=TODAY,
        ),
        RejectionCode.CONFLICT,
        "`contracts switch c1-t2 --to PLAN --on 2027-04-01`",
    )
    assert "clear-change" not in rejection.message
    no_undo = refused(
        uncancel(leaving(**LINED_UP), requested=ALICE, today=TODAY),
        RejectionCode.NOTHING_TO_UNDO,
    )
    assert "clear-change" not in no_undo.message


def test_an_ended_contract_points_to_its_next_term_or_to_a_new_one() -> None:
    refused(
        schedule_change(ended(), next_plan=OFFICE, requested=ALICE, today=TODAY),
        RejectionCode.CANCELLED,
        "`contracts new-term --from c1`",
    )
    refused(
        uncancel(ended(**LINED_UP), requested=ALICE, today=TODAY),
        RejectionCode.CANCELLED,
        "Its next term is contract c1-t2: see `contracts show c1-t2`.",
    )


def test_a_custom_price_names_the_manual_change_with_the_plan_asked_for() -> None:
    refused(
        schedule_change(active(price=Decimal(900)), next_plan=OFFICE, requested=ALICE, today=TODAY),
        RejectionCode.CUSTOM_PRICE,
        "`contracts switch c1 --to OFFICE --on DATE`",
        "`contracts new-term --from c1 --plan OFFICE`",
    )


def test_a_custom_price_warning_names_the_command_that_exists() -> None:
    decision = accepted(term(ended(), price=Decimal("1200.00")))
    assert any("(`contracts change`)" in warning for warning in decision.warnings)


# --- what an operator sees while a change is pending ----------------------------------------------


def test_a_pending_switch_keeps_the_next_invoice_date_and_shows_the_end() -> None:
    assert lifecycle.upcoming_invoice_date(switching()) == date(2027, 4, 1)
    assert lifecycle.term_end(switching()) == date(2027, 4, 1)


def test_a_pending_cancel_at_next_invoice_bills_nothing_more_and_ends_then() -> None:
    assert lifecycle.upcoming_invoice_date(leaving()) is None
    assert lifecycle.term_end(leaving()) == date(2027, 4, 1)


def test_a_running_contract_has_no_end_and_its_own_next_invoice() -> None:
    assert lifecycle.upcoming_invoice_date(active()) == date(2027, 4, 1)
    assert lifecycle.term_end(active()) is None
    assert lifecycle.term_end(cancelling()) == date(2027, 3, 21)
    assert lifecycle.upcoming_invoice_date(cancelling()) is None
    later = cancelling(on=date(2027, 4, 11))
    assert lifecycle.upcoming_invoice_date(later) == date(2027, 4, 1)
