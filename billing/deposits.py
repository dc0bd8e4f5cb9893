"""Refundable deposits (R9): what a contract's first invoice charges and what happens when it ends.

Each contract holds a deposit. A contract that replaces another (automated switch or new term)
inherits what the old one held, so its first invoice charges only the top-up, and a surplus stays
held. When a contract ends, its holding passes to the contract that replaces it; otherwise, once the
customer has no other current or future contract, everything the customer holds is refunded.
"""

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from billing.errors import BillingError

_ZERO = Decimal(0)


class DepositOnStart(BaseModel):
    """The deposit on a contract's first invoice."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    charge: Decimal
    """The `deposit` line: the plan's deposit less what was inherited, never below zero."""
    held: Decimal
    """What the contract holds after its first invoice; an inherited surplus stays held."""


class DepositSettlement(StrEnum):
    TRANSFER = "transfer"
    """The contract is replaced: its whole holding passes to the successor."""
    REFUND = "refund"
    """The customer's last contract ended: everything the customer holds is credited back."""
    HOLD = "hold"
    """The customer has another current or future contract: the deposit stays held."""


class DepositOnEnd(BaseModel):
    """What happens to deposits when a contract ends (on its cancellation date)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    settlement: DepositSettlement
    transfer: Decimal = _ZERO
    """Passed to the successor contract (settlement `transfer`)."""
    refund: Decimal = _ZERO
    """Paid back to the customer (settlement `refund`), as a positive amount."""

    @property
    def refund_line_amount(self) -> Decimal:
        """The amount of the `deposit_refund` invoice line: the refund, negated (0 if none)."""
        return -self.refund if self.refund else _ZERO


def _check_amount(name: str, amount: Decimal) -> None:
    if not amount.is_finite() or amount < 0:
        raise BillingError(f"The deposit amount {name}={amount} must be zero or more.")


def first_invoice_deposit(*, required: Decimal, inherited: Decimal) -> DepositOnStart:
    """The deposit charged on a contract's first invoice and what it then holds.

    `required` is the plan's deposit; `inherited` is what the replaced contract held (0 if none).
    Only the top-up is charged; a surplus is not repaid but stays held (R9).
    """
    _check_amount("required", required)
    _check_amount("inherited", inherited)
    return DepositOnStart(charge=max(_ZERO, required - inherited), held=max(required, inherited))


def on_contract_end(
    *,
    held_by_contract: Decimal,
    held_by_customer: Decimal,
    replaced: bool,
    other_live_contract: bool,
) -> DepositOnEnd:
    """What happens to deposits when a contract ends.

    `held_by_contract` is what the ending contract holds, `held_by_customer` what the customer holds
    over all their contracts (this one included). `replaced`: a successor contract (switch or new
    term) takes over, so the holding transfers and nothing is refunded. `other_live_contract`: the
    customer has another current or future contract, so everything stays held until the last ends.
    """
    _check_amount("held_by_contract", held_by_contract)
    _check_amount("held_by_customer", held_by_customer)
    if held_by_customer < held_by_contract:
        raise BillingError(
            f"The customer holds {held_by_customer} in deposits, less than the {held_by_contract} "
            "held by one of their contracts: the deposit ledger is inconsistent."
        )
    if replaced:
        return DepositOnEnd(settlement=DepositSettlement.TRANSFER, transfer=held_by_contract)
    if other_live_contract:
        return DepositOnEnd(settlement=DepositSettlement.HOLD)
    return DepositOnEnd(settlement=DepositSettlement.REFUND, refund=held_by_customer)
