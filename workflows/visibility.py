"""How a contract reads in the Temporal web UI: search attributes, summary and details in words.

Pure functions of the contract's state, shared by the workflow (which keeps them current) and the
CLI (which sets them when it starts a workflow).
"""

from typing import Any

from temporalio.common import SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

from billing import lifecycle, term_dates
from billing.calendar import local_midnight
from billing.contract import Contract
from billing.money import format_money
from workflows import search_attributes as attributes


def search_attribute_updates(contract: Contract) -> list[SearchAttributeUpdate[Any]]:
    """Every custom search attribute, set or unset, as the contract stands."""
    change = contract.scheduled_change
    next_plan = change.next_plan.code if change is not None and change.next_plan else None
    next_invoice = lifecycle.upcoming_invoice_date(contract)
    ends = lifecycle.term_end(contract)
    updates: list[SearchAttributeUpdate[Any]] = [
        attributes.CONTRACT_ID.value_set(contract.id),
        attributes.CUSTOMER_ID.value_set(contract.customer_id),
        attributes.LOCATION_ID.value_set(contract.location.id),
        attributes.PLAN_CODE.value_set(contract.plan.code),
        attributes.CONTRACT_STATUS.value_set(contract.status.value),
        attributes.NEXT_PLAN_CODE.value_set(next_plan)
        if next_plan
        else attributes.NEXT_PLAN_CODE.value_unset(),
        attributes.NEXT_INVOICE_AT.value_set(local_midnight(next_invoice, contract.timezone))
        if next_invoice is not None
        else attributes.NEXT_INVOICE_AT.value_unset(),
        attributes.CANCELLATION_AT.value_set(local_midnight(ends, contract.timezone))
        if ends is not None
        else attributes.CANCELLATION_AT.value_unset(),
        # Set only for contracts with terms: a contract without them publishes what it always did.
        attributes.COMMITMENT_END_AT.value_set(
            local_midnight(contract.commitment_end, contract.timezone)
        )
        if contract.commitment_end is not None
        else attributes.COMMITMENT_END_AT.value_unset(),
        attributes.FREEZE_STATUS.value_set(freeze)
        if (freeze := term_dates.freeze_status(contract)) is not None
        else attributes.FREEZE_STATUS.value_unset(),
        attributes.PRICE_SCHEDULED.value_set(True)
        if contract.scheduled_price is not None
        else attributes.PRICE_SCHEDULED.value_unset(),
    ]
    return updates


def registration_summary(contract_id: str) -> str:
    """The summary of the activity that writes the contract's row, in the history and the UI.

    `reconcile` finds a run's registration by it when no worker can answer: keep it as it is.
    """
    return f"Record contract {contract_id}"


def summary(contract: Contract) -> str:
    """The workflow's static summary in the UI: who, what plan, what price."""
    price = format_money(contract.price, contract.currency)
    custom = " (custom price)" if contract.custom_price else ""
    return (
        f"Contract {contract.id} · customer {contract.customer_id} · {contract.plan.name} "
        f"({contract.plan.code}) at {price}{custom} every {contract.plan.every}"
    )


def static_details(contract: Contract) -> str:
    """The workflow's static details in the UI (its User Metadata): only what stays true for the
    contract's whole life, since they are set once, when the workflow starts. What changes is in
    `details`, the current details."""
    location = contract.location
    lines = [
        f"**Contract:** {contract.id} for customer {contract.customer_id}",
        f"**Location:** {location.id} ({location.timezone}, {location.currency})",
        f"**Plan:** {contract.plan.code} ({contract.plan.name}), every {contract.plan.every}",
        f"**Start:** {contract.start}, billing anchored on {contract.anchor}",
    ]
    if contract.replaces:
        lines.append(f"**Replaces:** contract {contract.replaces}")
    return "  \n".join(lines)


def details(contract: Contract) -> str:
    """The workflow's current details in the UI, in words (markdown)."""
    lines = [
        f"**Status:** {contract.status.value}",
        f"**Plan:** {contract.plan.code} at {format_money(contract.price, contract.currency)}",
        f"**Next:** {lifecycle.describe_next_event(contract)}",
    ]
    if contract.scheduled_change is not None:
        change = contract.scheduled_change
        what = (
            f"switch to {change.next_plan.code}"
            if change.next_plan is not None
            else "cancel at the next invoice date"
        )
        lines.append(f"**Scheduled change:** {what} (by {change.requested.actor})")
    if contract.cancellation is not None:
        flag = "prorated" if contract.cancellation.prorate else "not prorated"
        lines.append(f"**Cancellation:** ends {contract.cancellation.date}, {flag}")
    lines += _terms_details(contract)
    if contract.replaces:
        lines.append(f"**Replaces:** contract {contract.replaces}")
    if contract.successor_id:
        lines.append(f"**Replaced by:** contract {contract.successor_id}")
    return "  \n".join(lines)


def _terms_details(contract: Contract) -> list[str]:
    """The §3b lines of the current details: only those that apply to the contract."""
    lines = []
    if contract.terms.describe() != "none":
        lines.append(f"**Terms:** {contract.terms.describe()}")
    if contract.commitment_end is not None:
        commitment = f"**Commitment:** ends {contract.commitment_end}"
        if (renews := term_dates.renewal_date(contract)) is not None:
            commitment += f", renews on {renews}"
        if (notice := term_dates.renewal_notice_date(contract)) is not None:
            commitment += f"; renewal upcoming recorded on {notice}"
        elif contract.renewal_noticed == contract.commitment_end:
            commitment += "; renewal upcoming recorded"
        lines.append(commitment)
    freeze = contract.freezes[-1] if contract.freezes else None
    if freeze is not None and (status := term_dates.freeze_status(contract)) is not None:
        lines.append(
            f"**Freeze:** {status}, {freeze.cycles} cycle(s): no plan line from {freeze.start}, "
            f"billing again on {freeze.end}"
        )
    if contract.scheduled_price is not None:
        price = contract.scheduled_price
        lines.append(
            f"**Scheduled price:** {format_money(price.price, contract.currency)} "
            f"from {price.effective} (by {price.requested.actor})"
        )
    return lines


def initial_search_attributes(contract: Contract) -> TypedSearchAttributes:
    """The search attributes a contract's workflow starts with (only those that have a value)."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(update.key, update.value)
        for update in search_attribute_updates(contract)
        if update.value is not None
    ]
    return TypedSearchAttributes(pairs)
