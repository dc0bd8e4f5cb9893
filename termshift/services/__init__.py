"""What the CLI does beyond parsing and printing: creating contracts, onboarding, reference data,
reconciling the database with Temporal, and the served-days check (R20).

They are not activities (no workflow schedules them), but they write as activities do: each write
with its audit entry (R11) in one transaction, idempotent by its business key.
"""
