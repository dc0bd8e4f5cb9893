"""Webhook endpoints and deliveries in the database (SPEC §7): what a delivery workflow takes next.

Per contract only its earliest pending event, never while one of the contract's events is in
flight or failed; other contracts go on. Every test runs on SQLite and on PostgreSQL.
"""

from datetime import UTC, datetime, timedelta

import pytest

from store import repository
from store.db import Database
from store.errors import Conflict, NotFound
from store.repository import webhooks
from tests.store.conftest import contract, record
from tests.store.test_events import created, refused, write

AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def add(database: Database, *, types: tuple[str, ...] = (), after: int = 0) -> None:
    with database.session() as session:
        webhooks.add_endpoint(
            session,
            endpoint_id="crm",
            url="http://127.0.0.1:9/hook",
            event_types=types,
            secret=SECRET,
            after_position=after,
        )


def due(
    database: Database, *, in_flight: tuple[str, ...] = (), limit: int = 10
) -> list[tuple[int, str]]:
    with database.session() as session:
        webhooks.scan_events(session, "crm")
        found = webhooks.next_deliveries(session, "crm", in_flight=in_flight, limit=limit)
    return [(item.position, item.contract_id) for item in found]


def attempt(database: Database, position: int, error: str | None) -> None:
    with database.session() as session:
        webhooks.record_attempt(session, "crm", position, at=AT, error=error)


def two_contracts(database: Database) -> dict[str, list[int]]:
    """c1 and c2 with three events each, interleaved; each contract's positions."""
    c1, c2 = contract("c1"), contract("c2")
    record(database, c1)
    record(database, c2)
    positions: dict[str, list[int]] = {"c1": [], "c2": []}
    for index in range(3):
        for value in (c1, c2):
            drafts = created(value) if index == 0 else refused(value, why=f"no {index}")
            write(database, f"{value.id}/{index}", drafts)
            with database.session() as session:
                positions[value.id].append(repository.last_position(session))
    return positions


def test_each_contract_gives_its_earliest_pending_event_only(catalog: Database) -> None:
    database = catalog
    positions = two_contracts(database)
    add(database)
    assert due(database) == [(positions["c1"][0], "c1"), (positions["c2"][0], "c2")]
    assert due(database, in_flight=("c1",)) == [(positions["c2"][0], "c2")]
    assert due(database, limit=1) == [(positions["c1"][0], "c1")]
    attempt(database, positions["c1"][0], None)
    assert due(database) == [(positions["c2"][0], "c2"), (positions["c1"][1], "c1")]


def test_a_failed_event_holds_back_its_contract_until_redelivered(catalog: Database) -> None:
    database = catalog
    positions = two_contracts(database)
    add(database)
    first = positions["c1"][0]
    attempt(database, first, "HTTP 500")
    assert due(database)[0] == (first, "c1")  # an attempt that failed stays pending
    with database.session() as session:
        webhooks.give_up(session, "crm", first, error="HTTP 500 for 3 days")
    assert due(database) == [(positions["c2"][0], "c2")]
    with database.session() as session:
        counts = webhooks.delivery_counts(session, "crm")
        assert (counts.pending, counts.failed) == (5, 1)
        assert counts.last_error is not None
        assert webhooks.redeliver(session, "crm") == 1
    assert due(database)[0] == (first, "c1")


def test_a_contracts_pending_events_come_in_order_in_one_query(catalog: Database) -> None:
    """What one delivery activity sends: the contract's pending events from its earliest, none
    while one is failed; attempts are recorded together, an acknowledged one left as it is."""
    database = catalog
    positions = two_contracts(database)
    add(database)
    due(database)  # scanned into pending deliveries

    def pending(contract_id: str, limit: int = 10) -> list[int]:
        with database.session() as session:
            found = webhooks.pending_events(session, "crm", contract_id, limit=limit)
        return [event.position for event in found]

    assert pending("c1") == positions["c1"]
    assert pending("c1", limit=2) == positions["c1"][:2]
    first, second, third = positions["c1"]
    later = AT + timedelta(seconds=1)
    with database.session() as session:
        webhooks.record_attempts(
            session, "crm", [(first, AT, None), (second, AT, "HTTP 500"), (first, later, "x")]
        )
    assert pending("c1") == [second, third]
    with database.session() as session:
        webhooks.record_attempts(session, "crm", [(second, later, None)])
        counts = webhooks.delivery_counts(session, "crm")
    assert (counts.delivered, counts.pending) == (2, 4)
    with database.session() as session:
        webhooks.give_up(session, "crm", 0, error="gave up", contract_id="c1")  # the earliest
    assert pending("c1") == []
    assert pending("c2") == positions["c2"]
    with database.session() as session:
        assert webhooks.delivery_counts(session, "crm").failed == 1
        assert webhooks.redeliver(session, "crm") == 1
    assert pending("c1") == [third]


def test_an_endpoint_gets_the_types_it_wants_after_its_start(catalog: Database) -> None:
    database = catalog
    positions = two_contracts(database)
    add(database, types=("command.refused",), after=positions["c1"][1])
    # c1's first refusal (index 1) is at or before `after`: not delivered.
    assert due(database) == [(positions["c2"][1], "c2"), (positions["c1"][2], "c1")]


def test_bad_endpoints_are_refused(catalog: Database) -> None:
    database = catalog
    add(database)
    with pytest.raises(Conflict):
        add(database)
    with database.session() as session, pytest.raises(NotFound):
        webhooks.get_endpoint(session, "nope")
    with database.session() as session:
        webhooks.remove_endpoint(session, "crm", at=AT + timedelta(days=1))
        assert webhooks.list_endpoints(session) == []
        assert [e.id for e in webhooks.list_endpoints(session, removed=True)] == ["crm"]
