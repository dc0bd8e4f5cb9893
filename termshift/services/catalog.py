"""Writers for reference data — locations, plans, customers — called by the admin CLI.

Each write goes with its audit entry (R11) in one transaction. Adding the same value twice is a
no-op (it returns False); another value under a taken id is refused by the store.
"""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from billing.contract import Command, Customer, Location, Plan
from store import repository
from store.db import Database


def _audit(
    session: Session, requested: Command, command: str, effect: str, job_id: str | None = None
) -> None:
    repository.record_audit(
        session,
        key=f"cli/{uuid.uuid4()}",
        at=datetime.now(UTC),
        actor=requested.actor,
        reason=requested.reason,
        command=command,
        contract_id=None,
        effect=effect,
        job_id=job_id,
    )


def add_location(database: Database, location: Location, requested: Command) -> bool:
    with database.session() as session:
        added = repository.add_location(session, location)
        if added:
            _audit(session, requested, "locations add", f"Location {location.id} added.")
        return added


def add_plan(database: Database, plan: Plan, requested: Command) -> bool:
    with database.session() as session:
        added = repository.add_plan(session, plan)
        if added:
            terms = f" Terms: {plan.terms.describe()}." if plan.terms.any else ""
            effect = f"Plan {plan.code} added at {plan.price}.{terms}"
            _audit(session, requested, "plans add", effect)
        return added


def add_customer(database: Database, customer: Customer, requested: Command) -> bool:
    with database.session() as session:
        added = repository.add_customer(session, customer)
        if added:
            _audit(session, requested, "customers add", f"Customer {customer.id} added.")
        return added


def set_plan_price(
    database: Database, code: str, price: Decimal, requested: Command, *, job_id: str | None
) -> Plan:
    """R18: the plan's price for contracts created from now on (its running contracts are the
    bulk job `job_id`'s)."""
    with database.session() as session:
        before = repository.get_plan(session, code)
        plan = repository.set_plan_price(session, code, price)
        if plan.price != before.price:
            effect = f"Plan {code}'s price set from {before.price} to {plan.price}."
            _audit(session, requested, "plans set-price", effect, job_id)
        return plan
