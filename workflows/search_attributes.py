"""The custom search attributes a contract workflow publishes, typed (the UI's filters)."""

from typing import Any

from temporalio.common import SearchAttributeKey

CONTRACT_ID = SearchAttributeKey.for_keyword("ContractId")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
LOCATION_ID = SearchAttributeKey.for_keyword("LocationId")
PLAN_CODE = SearchAttributeKey.for_keyword("PlanCode")
NEXT_PLAN_CODE = SearchAttributeKey.for_keyword("NextPlanCode")
CONTRACT_STATUS = SearchAttributeKey.for_keyword("ContractStatus")
NEXT_INVOICE_AT = SearchAttributeKey.for_datetime("NextInvoiceAt")
CANCELLATION_AT = SearchAttributeKey.for_datetime("CancellationAt")
COMMITMENT_END_AT = SearchAttributeKey.for_datetime("CommitmentEndAt")
"""R15: the first day after the minimum term (kept once it has passed)."""
FREEZE_STATUS = SearchAttributeKey.for_keyword("FreezeStatus")
"""R17: `scheduled` or `running` while a freeze is ahead or under way; unset otherwise."""
PRICE_SCHEDULED = SearchAttributeKey.for_bool("PriceScheduled")
"""R18: true while a price change waits for its invoice date; unset otherwise."""

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = (
    CONTRACT_ID,
    CUSTOMER_ID,
    LOCATION_ID,
    PLAN_CODE,
    NEXT_PLAN_CODE,
    CONTRACT_STATUS,
    NEXT_INVOICE_AT,
    CANCELLATION_AT,
    COMMITMENT_END_AT,
    FREEZE_STATUS,
    PRICE_SCHEDULED,
)
"""Every custom search attribute a Termshift namespace must have registered."""
