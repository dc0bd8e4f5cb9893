"""A small catalog for repository tests: one location, two plans, two customers."""

from datetime import date
from decimal import Decimal

import pytest

from billing.contract import Contract, Customer, Location, Plan, new_contract
from store import repository
from store.db import Database

GENEVA = Location(id="geneva", name="Geneva", timezone="Europe/Zurich", currency="CHF")
HOT_DESK = Plan(
    code="hot-desk", name="Hot Desk", location_id="geneva", price=Decimal("300.00"),
    deposit=Decimal("200.00"),
)  # fmt: skip
OFFICE = Plan(
    code="office", name="Office", location_id="geneva", price=Decimal("1500.00"),
    deposit=Decimal("1000.00"), prorate_first_invoice=True,
)  # fmt: skip
ACME = Customer(id="acme", name="Acme SA", email="billing@acme.example", location_id="geneva")
INITECH = Customer(id="initech", name="Initech", email="ap@initech.example", location_id="geneva")


@pytest.fixture
def catalog(database: Database) -> Database:
    """The migrated database holding GENEVA, HOT_DESK, OFFICE, ACME and INITECH."""
    return seed_catalog(database)


def seed_catalog(database: Database) -> Database:
    """Add GENEVA, HOT_DESK, OFFICE, ACME and INITECH to the migrated `database`."""
    with database.session() as session:
        repository.add_location(session, GENEVA)
        for plan in (HOT_DESK, OFFICE):
            repository.add_plan(session, plan)
        for customer in (ACME, INITECH):
            repository.add_customer(session, customer)
    return database


def contract(
    contract_id: str = "c1",
    *,
    customer: Customer = ACME,
    plan: Plan = HOT_DESK,
    start: date = date(2027, 3, 1),
    price: Decimal | None = None,
    replaces: str | None = None,
) -> Contract:
    return new_contract(
        id=contract_id,
        customer_id=customer.id,
        location=GENEVA,
        plan=plan,
        start=start,
        price=price,
        replaces=replaces,
    )


def record(database: Database, *contracts: Contract) -> None:
    with database.session() as session:
        for value in contracts:
            repository.record_contract(session, value)
