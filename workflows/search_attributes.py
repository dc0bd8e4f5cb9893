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

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey[Any], ...] = (
    CONTRACT_ID,
    CUSTOMER_ID,
    LOCATION_ID,
    PLAN_CODE,
    NEXT_PLAN_CODE,
    CONTRACT_STATUS,
    NEXT_INVOICE_AT,
    CANCELLATION_AT,
)
"""Every custom search attribute a Termshift namespace must have registered."""
