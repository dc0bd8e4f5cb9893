"""Locations, plans and customers: the catalog contracts are made of.

Each is added once under its id (a plan under its code) and read back as a billing value; a plan's
amounts are given in its location's currency, and its terms (§3b) are columns of its row.
"""

from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from billing.contract import Customer, Location, Plan
from billing.terms import Renewal, Terms
from store.errors import AlreadyExists, NotFound
from store.models import CustomerRow, LocationRow, PlanRow
from store.repository._shared import NO_CUSTOMER, NO_PLAN, _in_minor_units, _insert_new


def add_location(session: Session, location: Location) -> bool:
    """Add a location; False if the very same one is already there."""
    inserted = _insert_new(session, LocationRow, location.model_dump(), key=["id"])
    if not inserted and get_location(session, location.id) != location:
        raise AlreadyExists(
            f"Location {location.id!r} already exists with other details: choose another id."
        )
    return inserted


def get_location(session: Session, location_id: str) -> Location:
    row = session.get(LocationRow, location_id)
    if row is None:
        raise NotFound(f"No location {location_id!r}: check the id, or add the location first.")
    return _location(row)


def list_locations(session: Session) -> list[Location]:
    return [_location(row) for row in session.scalars(select(LocationRow).order_by(LocationRow.id))]


def add_plan(session: Session, plan: Plan) -> bool:
    """Add a plan to its location (whose currency it is priced in); False if already there."""
    get_location(session, plan.location_id)
    inserted = _insert_new(session, PlanRow, _plan_columns(plan), key=["code"])
    if not inserted and get_plan(session, plan.code) != plan:
        raise AlreadyExists(
            f"Plan {plan.code!r} already exists with other details: choose another code."
        )
    return inserted


def get_plan(session: Session, code: str) -> Plan:
    found = session.execute(_plans().where(PlanRow.code == code)).one_or_none()
    if found is None:
        raise NotFound(NO_PLAN.format(code))
    return _plan(*found)


def set_plan_price(session: Session, code: str, price: Decimal) -> Plan:
    """R18: the plan's price for contracts created from now on; the plan as it is now."""
    get_plan(session, code)
    session.execute(update(PlanRow).where(PlanRow.code == code).values(price=price))
    return get_plan(session, code)


def list_plans(session: Session, location_id: str | None = None) -> list[Plan]:
    query = _plans().order_by(PlanRow.location_id, PlanRow.code)
    if location_id is not None:
        query = query.where(PlanRow.location_id == location_id)
    return [_plan(row, currency) for row, currency in session.execute(query)]


def add_customer(session: Session, customer: Customer) -> bool:
    """Add a customer of an existing location; False if the very same one is already there."""
    get_location(session, customer.location_id)
    inserted = _insert_new(session, CustomerRow, customer.model_dump(), key=["id"])
    if not inserted and get_customer(session, customer.id) != customer:
        raise AlreadyExists(
            f"Customer {customer.id!r} already exists with other details: choose another id."
        )
    return inserted


def get_customer(session: Session, customer_id: str) -> Customer:
    row = session.get(CustomerRow, customer_id)
    if row is None:
        raise NotFound(NO_CUSTOMER.format(customer_id))
    return _customer(row)


def list_customers(session: Session, location_id: str | None = None) -> list[Customer]:
    query = select(CustomerRow).order_by(CustomerRow.id)
    if location_id is not None:
        query = query.where(CustomerRow.location_id == location_id)
    return [_customer(row) for row in session.scalars(query)]


# --- Helpers ---------------------------------------------------------------------------------


def _location(row: LocationRow) -> Location:
    return Location(id=row.id, name=row.name, timezone=row.timezone, currency=row.currency)


def _plans() -> Select[PlanRow, str]:
    return select(PlanRow, LocationRow.currency).join(
        LocationRow, PlanRow.location_id == LocationRow.id
    )


def _plan_columns(plan: Plan) -> dict[str, Any]:
    """The plan's row: its fields, and its terms one column each."""
    terms = plan.terms
    return {
        **plan.model_dump(exclude={"terms"}),
        "notice": terms.notice,
        "minimum_term": terms.minimum_term,
        "renewal": terms.renewal.value,
        "max_freeze_cycles": terms.max_freeze_cycles,
        "max_freezes_per_year": terms.max_freezes_per_year,
    }


def _plan(row: PlanRow, currency: str) -> Plan:
    return Plan(
        code=row.code,
        name=row.name,
        location_id=row.location_id,
        price=_in_minor_units(row.price, currency),
        every=row.every,
        deposit=_in_minor_units(row.deposit, currency),
        prorate_first_invoice=row.prorate_first_invoice,
        terms=Terms(
            notice=row.notice,
            minimum_term=row.minimum_term,
            renewal=Renewal(row.renewal),
            max_freeze_cycles=row.max_freeze_cycles,
            max_freezes_per_year=row.max_freezes_per_year,
        ),
    )


def _customer(row: CustomerRow) -> Customer:
    return Customer(id=row.id, name=row.name, email=row.email, location_id=row.location_id)
