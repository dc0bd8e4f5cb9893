"""SPEC §4, row by row: the worked examples that fix our conventions."""

from datetime import date
from decimal import Decimal

from billing.contract import (
    Cancellation,
    Command,
    ContractStatus,
    Location,
    Plan,
    new_contract,
)
from billing.deposits import DepositSettlement, first_invoice_deposit, on_contract_end
from billing.lifecycle import advance
from billing.periods import boundary, period_containing
from billing.proration import prorate
from billing.rules import Decision, cancel, new_term, uncancel

USD = Location(id="nyc", name="New York", timezone="America/New_York", currency="USD")
ADMIN = Command(actor="alice", reason="customer asked")


def test_anchored_months_clamp_to_the_month_length_and_never_drift() -> None:
    anchor = date(2027, 1, 31)
    boundaries = [boundary(anchor, "1 month", n) for n in range(5)]
    assert boundaries == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
        date(2027, 5, 31),
    ]
    assert period_containing(date(2027, 3, 1), anchor=anchor, every="1 month") == (
        date(2027, 2, 28),
        date(2027, 3, 31),
    )


def test_manual_cancel_prorated_credits_11_of_31_days() -> None:
    credit = prorate(
        Decimal("1000.00"),
        period_start=date(2027, 3, 1),
        period_end=date(2027, 4, 1),
        start=date(2027, 3, 21),
        end=date(2027, 4, 1),
        currency="USD",
    )
    assert -credit == Decimal("-354.84")


def test_manual_cancel_prorated_preview_names_the_credit_and_its_date() -> None:
    plan = Plan(code="DESK", name="Desk", location_id="nyc", price=Decimal("1000.00"))
    contract = new_contract(
        id="c1", customer_id="u1", location=USD, plan=plan, start=date(2027, 1, 1)
    ).model_copy(
        update={
            "status": ContractStatus.ACTIVE,
            "next_invoice_date": date(2027, 4, 1),
            "billed_from": date(2027, 3, 1),
            "billed_through": date(2027, 4, 1),
        }
    )
    decision = cancel(
        contract, date=date(2027, 3, 21), prorate=True, requested=ADMIN, today=date(2027, 3, 10)
    )
    assert isinstance(decision, Decision)
    assert "proration credit of 354.84 USD" in decision.effect
    assert "(11 of 31 days) will be issued on 2027-03-21" in decision.effect


def test_new_term_with_prorated_first_invoice_then_full_price() -> None:
    first = prorate(
        Decimal("1500.00"),
        period_start=date(2027, 3, 1),
        period_end=date(2027, 4, 1),
        start=date(2027, 3, 21),
        end=date(2027, 4, 1),
        currency="USD",
    )
    assert first == Decimal("532.26")
    # Billing day 1: the stub runs to 04-01, then full periods follow.
    anchor = date(2027, 1, 1)
    assert period_containing(date(2027, 3, 21), anchor=anchor, every="1 month") == (
        date(2027, 3, 1),
        date(2027, 4, 1),
    )
    assert period_containing(date(2027, 4, 1), anchor=anchor, every="1 month") == (
        date(2027, 4, 1),
        date(2027, 5, 1),
    )


def test_new_term_preview_shows_the_prorated_first_invoice() -> None:
    hot = Plan(code="HOT", name="Hot desk", location_id="nyc", price=Decimal("1000.00"))
    office = Plan(
        code="OFFICE",
        name="Office",
        location_id="nyc",
        price=Decimal("1500.00"),
        prorate_first_invoice=True,
    )
    old = new_contract(
        id="c1", customer_id="u1", location=USD, plan=hot, start=date(2027, 1, 1)
    ).model_copy(
        update={
            "status": ContractStatus.ACTIVE,
            "next_invoice_date": date(2027, 4, 1),
            "billed_from": date(2027, 3, 1),
            "billed_through": date(2027, 4, 1),
            "cancellation": Cancellation(date=date(2027, 3, 21), prorate=True, requested=ADMIN),
        }
    )
    decision = new_term(
        old,
        id="c2",
        plan=office,
        start=None,
        price=None,
        anchor=None,
        prorate_first_invoice=True,
        requested=ADMIN,
        today=date(2027, 3, 10),
    )
    assert isinstance(decision, Decision)
    assert decision.contract.start == date(2027, 3, 21)
    assert decision.contract.anchor == date(2027, 1, 1)
    assert "prorated (11 of 31 days): 532.26 USD" in decision.effect


def test_half_up_tie_rounds_up_where_bankers_rounding_would_not() -> None:
    amount = prorate(
        Decimal("100.10"),
        period_start=date(2027, 2, 1),
        period_end=date(2027, 3, 1),
        start=date(2027, 2, 14),
        end=date(2027, 3, 1),
        currency="USD",
    )
    assert amount == Decimal("53.63")


def test_cancel_after_the_next_invoice_date_prorates_the_last_invoice() -> None:
    amount = prorate(
        Decimal("600.00"),
        period_start=date(2027, 5, 1),
        period_end=date(2027, 6, 1),
        start=date(2027, 5, 1),
        end=date(2027, 5, 11),
        currency="USD",
    )
    assert amount == Decimal("193.55")


def test_zero_decimal_currency_rounds_to_whole_yen() -> None:
    amount = prorate(
        Decimal("50000"),
        period_start=date(2027, 3, 1),
        period_end=date(2027, 4, 1),
        start=date(2027, 3, 22),
        end=date(2027, 4, 1),
        currency="JPY",
    )
    assert amount == Decimal("16129")
    assert amount.as_tuple().exponent == 0


def test_deposits_on_a_switch_charge_the_top_up_and_refund_all_at_the_end() -> None:
    # Hot Desk (deposit 200) switches to Office (deposit 1,000).
    hot_desk_end = on_contract_end(
        held_by_contract=Decimal(200),
        held_by_customer=Decimal(200),
        replaced=True,
        other_live_contract=False,
    )
    assert hot_desk_end.settlement is DepositSettlement.TRANSFER
    assert hot_desk_end.transfer == Decimal(200)
    assert hot_desk_end.refund == 0

    office_start = first_invoice_deposit(required=Decimal(1000), inherited=hot_desk_end.transfer)
    assert office_start.charge == Decimal(800)
    assert office_start.held == Decimal(1000)

    # Later the last contract is cancelled: 1,000 credited on its cancellation date.
    office_end = on_contract_end(
        held_by_contract=office_start.held,
        held_by_customer=office_start.held,
        replaced=False,
        other_live_contract=False,
    )
    assert office_end.settlement is DepositSettlement.REFUND
    assert office_end.refund == Decimal(1000)
    assert office_end.refund_line_amount == Decimal(-1000)


def test_undo_after_a_prorated_cut_invoices_the_days_cut_off() -> None:
    plan = Plan(code="DESK", name="Desk", location_id="nyc", price=Decimal("600.00"))
    contract = new_contract(
        id="c1", customer_id="u1", location=USD, plan=plan, start=date(2027, 3, 1)
    )
    cancelled = cancel(contract, date=date(2027, 5, 11), prorate=True, requested=ADMIN,
                       today=date(2027, 4, 15))  # fmt: skip
    assert isinstance(cancelled, Decision)
    state = cancelled.contract
    while state.billed_from != date(2027, 5, 1):
        state = advance(state).contract
    assert (state.billed_from, state.billed_through) == (date(2027, 5, 1), date(2027, 5, 11))

    undone = uncancel(state, requested=ADMIN, today=date(2027, 5, 3))

    assert isinstance(undone, Decision)
    assert undone.invoice is not None
    [line] = undone.invoice.lines
    assert (line.period_start, line.period_end, line.amount) == (
        date(2027, 5, 11),
        date(2027, 6, 1),
        Decimal("406.45"),
    )
    assert Decimal("193.55") + line.amount == Decimal("600.00")
