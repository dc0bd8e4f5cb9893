"""Locations, plans and customers: added once, read back as the billing values they were."""

from decimal import Decimal

import pytest

from billing.contract import Customer, Location, Plan
from billing.terms import Renewal, Terms
from store import repository
from store.db import Database
from store.errors import AlreadyExists, NotFound
from tests.store.conftest import ACME, GENEVA, HOT_DESK, INITECH, OFFICE

TOKYO = Location(id="tokyo", name="Tokyo", timezone="Asia/Tokyo", currency="JPY")
TOKYO_DESK = Plan(code="tokyo-desk", name="Desk", location_id="tokyo", price=Decimal("50000"))
COMMITTED = HOT_DESK.model_copy(
    update={
        "code": "committed",
        "terms": Terms(
            notice="1 month", minimum_term="1 year", renewal=Renewal.END,
            max_freeze_cycles=3, max_freezes_per_year=0,
        ),
    }
)  # fmt: skip


def test_catalog_reads_back(catalog: Database) -> None:
    with catalog.session() as session:
        assert repository.get_location(session, "geneva") == GENEVA
        assert repository.list_locations(session) == [GENEVA]
        assert repository.get_plan(session, "office") == OFFICE
        assert repository.list_plans(session) == [HOT_DESK, OFFICE]
        assert repository.get_customer(session, "acme") == ACME
        assert repository.list_customers(session) == [ACME, INITECH]


def test_amounts_come_back_with_the_currency_decimals(catalog: Database) -> None:
    with catalog.session() as session:
        repository.add_location(session, TOKYO)
        repository.add_plan(session, TOKYO_DESK)
    with catalog.session() as session:
        assert str(repository.get_plan(session, "office").price) == "1500.00"
        assert str(repository.get_plan(session, "tokyo-desk").price) == "50000"
        assert str(repository.get_plan(session, "tokyo-desk").deposit) == "0"


def test_a_plan_with_terms_reads_back(catalog: Database) -> None:
    with catalog.session() as session:
        assert repository.add_plan(session, COMMITTED) is True
        assert repository.add_plan(session, COMMITTED) is False
    with catalog.session() as session:
        assert repository.get_plan(session, "committed") == COMMITTED
        assert repository.get_plan(session, "committed").terms.minimum_term == "1 year"
        assert repository.list_plans(session) == [COMMITTED, HOT_DESK, OFFICE]
        assert repository.get_plan(session, "hot-desk").terms == Terms()


def test_lists_filter_by_location(catalog: Database) -> None:
    with catalog.session() as session:
        repository.add_location(session, TOKYO)
        repository.add_plan(session, TOKYO_DESK)
        repository.add_customer(
            session, Customer(id="sony", name="Sony", email="a@sony.example", location_id="tokyo")
        )
        assert repository.list_plans(session, location_id="tokyo") == [TOKYO_DESK]
        assert [c.id for c in repository.list_customers(session, location_id="tokyo")] == ["sony"]
        assert repository.list_locations(session) == [GENEVA, TOKYO]


def test_adding_the_same_value_again_is_a_no_op(catalog: Database) -> None:
    with catalog.session() as session:
        assert repository.add_location(session, GENEVA) is False
        assert repository.add_plan(session, HOT_DESK) is False
        assert repository.add_customer(session, ACME) is False
        assert len(repository.list_plans(session)) == 2


@pytest.mark.parametrize(
    "value",
    [
        GENEVA.model_copy(update={"name": "Genève"}),
        HOT_DESK.model_copy(update={"price": Decimal("310.00")}),
        HOT_DESK.model_copy(update={"terms": Terms(notice="30 days")}),
        ACME.model_copy(update={"email": "other@acme.example"}),
    ],
    ids=["location", "plan", "plan-terms", "customer"],
)
def test_a_taken_id_with_other_details_is_refused(
    catalog: Database, value: Location | Plan | Customer
) -> None:
    add = {
        Location: repository.add_location,
        Plan: repository.add_plan,
        Customer: repository.add_customer,
    }[type(value)]
    with pytest.raises(AlreadyExists, match="already exists"), catalog.session() as session:
        add(session, value)  # type: ignore[operator]


def test_plans_and_customers_need_their_location(database: Database) -> None:
    with database.session() as session:
        with pytest.raises(NotFound, match="No location 'geneva'"):
            repository.add_plan(session, HOT_DESK)
        with pytest.raises(NotFound, match="No location 'geneva'"):
            repository.add_customer(session, ACME)


def test_missing_ids_are_not_found(database: Database) -> None:
    with database.session() as session:
        with pytest.raises(NotFound, match="No location 'nowhere'"):
            repository.get_location(session, "nowhere")
        with pytest.raises(NotFound, match="No plan 'nothing'"):
            repository.get_plan(session, "nothing")
        with pytest.raises(NotFound, match="No customer 'nobody'"):
            repository.get_customer(session, "nobody")
