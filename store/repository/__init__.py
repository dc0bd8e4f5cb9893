"""Reads and idempotent writes of the billing database.

Every function takes an open `Session` (see `store.db.Database.session`) and returns billing values
or `store.records` records, never ORM rows. Each write is keyed by its business key (R12): repeating
it — an activity retried after a crash, or two workers racing — leaves one row, and the function
says whether this call inserted it. Two transactions inserting the same key concurrently do not
fail: `INSERT ... ON CONFLICT DO NOTHING` makes the second wait for the first and then do nothing.

The statements of a billing date (an invoice, its deposit, the contract's state, the audit entry)
are built once and run on the session's connection, on tables rather than ORM classes: a worker
runs thousands of them at month-end, and the ORM's bookkeeping would be most of their cost.

The functions live in one module per subject — `catalog` (locations, plans, customers),
`contracts`, `invoices`, `ledger` (deposits, R9), `audit` (R11), `events` (SPEC §7) — over the
helpers of `_shared`; this package re-exports them all, so callers write
`repository.get_contract(...)`.
"""

from store.repository._shared import IN_CHUNK, NO_CONTRACT, NO_CUSTOMER, NO_PLAN
from store.repository.audit import audit_entries, record_audit, record_audits
from store.repository.catalog import (
    add_customer,
    add_location,
    add_plan,
    get_customer,
    get_location,
    get_plan,
    list_customers,
    list_locations,
    list_plans,
    set_plan_price,
)
from store.repository.contracts import (
    contract_ids,
    get_contract,
    has_other_live_contract,
    list_contracts,
    lock_customer,
    record_contract,
    record_contracts,
    save_contract,
    stored_contract,
    successor_of,
)
from store.repository.events import (
    last_position,
    list_events,
    record_events,
    refusal_recorded,
)
from store.repository.invoices import (
    billed_lines,
    find_invoice,
    get_invoice,
    insert_invoice,
    list_invoices,
)
from store.repository.ledger import (
    deposit_movements,
    held_by_contract,
    held_by_customer,
    held_by_customers,
    holdings,
    record_deposit_movement,
)

__all__ = [
    "IN_CHUNK",
    "NO_CONTRACT",
    "NO_CUSTOMER",
    "NO_PLAN",
    "add_customer",
    "add_location",
    "add_plan",
    "audit_entries",
    "billed_lines",
    "contract_ids",
    "deposit_movements",
    "find_invoice",
    "get_contract",
    "get_customer",
    "get_invoice",
    "get_location",
    "get_plan",
    "has_other_live_contract",
    "held_by_contract",
    "held_by_customer",
    "held_by_customers",
    "holdings",
    "insert_invoice",
    "last_position",
    "list_contracts",
    "list_customers",
    "list_events",
    "list_invoices",
    "list_locations",
    "list_plans",
    "lock_customer",
    "record_audit",
    "record_audits",
    "record_contract",
    "record_contracts",
    "record_deposit_movement",
    "record_events",
    "refusal_recorded",
    "save_contract",
    "set_plan_price",
    "stored_contract",
    "successor_of",
]
