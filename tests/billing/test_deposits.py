"""Deposits (R9): top-ups on the first invoice; transfer, hold or refund when a contract ends."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.deposits import (
    DepositOnEnd,
    DepositOnStart,
    DepositSettlement,
    first_invoice_deposit,
    on_contract_end,
)
from billing.errors import BillingError

D = Decimal


@pytest.mark.parametrize(
    ("required", "inherited", "charge", "held"),
    [
        (D(200), D(0), D(200), D(200)),  # a first contract pays the whole deposit
        (D(1000), D(200), D(800), D(1000)),  # upgrade: only the top-up
        (D(200), D(1000), D(0), D(1000)),  # downgrade: the surplus stays held, nothing repaid
        (D(500), D(500), D(0), D(500)),
        (D(0), D(0), D(0), D(0)),
        (D(0), D(300), D(0), D(300)),
    ],
)
def test_first_invoice_charges_only_the_top_up(
    required: Decimal, inherited: Decimal, charge: Decimal, held: Decimal
) -> None:
    assert first_invoice_deposit(required=required, inherited=inherited) == DepositOnStart(
        charge=charge, held=held
    )


amounts = st.decimals(min_value=0, max_value=10**6, places=2)


@given(required=amounts, inherited=amounts)
def test_first_invoice_deposit_properties(required: Decimal, inherited: Decimal) -> None:
    start = first_invoice_deposit(required=required, inherited=inherited)
    assert start.charge >= 0
    assert start.held >= required  # the plan's deposit is always covered
    assert start.held == inherited + start.charge or start.charge == 0
    assert start.held == max(required, inherited)


@pytest.mark.parametrize("other_live_contract", [True, False])
def test_a_replaced_contract_transfers_its_whole_deposit_and_never_refunds(
    other_live_contract: bool,
) -> None:
    end = on_contract_end(
        held_by_contract=D(200),
        held_by_customer=D(700),
        replaced=True,
        other_live_contract=other_live_contract,
    )
    assert end == DepositOnEnd(settlement=DepositSettlement.TRANSFER, transfer=D(200))
    assert end.refund == 0
    assert end.refund_line_amount == 0


def test_another_current_or_future_contract_keeps_the_deposit_held() -> None:
    end = on_contract_end(
        held_by_contract=D(200), held_by_customer=D(700), replaced=False, other_live_contract=True
    )
    assert end.settlement is DepositSettlement.HOLD
    assert (end.transfer, end.refund, end.refund_line_amount) == (0, 0, 0)


def test_the_last_contract_refunds_everything_the_customer_holds() -> None:
    # 500 still held from an earlier contract that ended while this one ran.
    end = on_contract_end(
        held_by_contract=D(200), held_by_customer=D(700), replaced=False, other_live_contract=False
    )
    assert end.settlement is DepositSettlement.REFUND
    assert end.refund == D(700)
    assert end.refund_line_amount == D(-700)
    assert end.transfer == 0


def test_nothing_held_refunds_nothing() -> None:
    end = on_contract_end(
        held_by_contract=D(0), held_by_customer=D(0), replaced=False, other_live_contract=False
    )
    assert end.settlement is DepositSettlement.REFUND
    assert end.refund == 0
    assert end.refund_line_amount == 0


@pytest.mark.parametrize(
    ("required", "inherited"), [(D(-1), D(0)), (D(0), D(-1)), (D("NaN"), D(0))]
)
def test_first_invoice_deposit_refuses_negative_amounts(
    required: Decimal, inherited: Decimal
) -> None:
    with pytest.raises(BillingError, match="must be zero or more"):
        first_invoice_deposit(required=required, inherited=inherited)


def test_on_contract_end_refuses_an_inconsistent_ledger() -> None:
    with pytest.raises(BillingError, match="inconsistent"):
        on_contract_end(
            held_by_contract=D(500),
            held_by_customer=D(200),
            replaced=False,
            other_live_contract=False,
        )
    with pytest.raises(BillingError, match="must be zero or more"):
        on_contract_end(
            held_by_contract=D(-5),
            held_by_customer=D(0),
            replaced=True,
            other_live_contract=False,
        )


def test_results_are_frozen_values() -> None:
    start = first_invoice_deposit(required=D(1), inherited=D(0))
    with pytest.raises(ValueError, match="frozen"):
        start.charge = D(2)  # type: ignore[misc]
