"""The event record (SPEC §7): its migration, and events numbered per contract and by position.

Every test runs on SQLite and on PostgreSQL (the `database` fixture).
"""

import threading
import time
from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from billing import events
from billing.contract import Command, Contract
from billing.events import Effect, EventDraft, EventType, event_id
from store import repository
from store.db import Database
from tests.store.conftest import ACME, GENEVA, HOT_DESK, contract, record
from tests.store.test_migrations import HEAD, _at_revision, _migrate, _revision

ALICE = Command(actor="alice", reason="customer asked")
AT = datetime(2027, 3, 1, 9, 30, tzinfo=UTC)
MAR_1 = date(2027, 3, 1)
E = EventType


def created(value: Contract) -> list[EventDraft]:
    return events.events_of(
        Effect(day=MAR_1, before=None, after=value, command="contracts create", requested=ALICE)
    )


def refused(
    value: Contract, name: str = "uncancel", why: str = "Nothing to undo."
) -> list[EventDraft]:
    return events.events_of(
        Effect(day=MAR_1, before=value, after=value, command=name, requested=ALICE, refusal=why)
    )


def write(database: Database, key: str, drafts: list[EventDraft]) -> list[str]:
    with database.session() as session:
        return repository.record_events(session, {key: drafts}, at=AT)


def listed(database: Database, **filters: object) -> list[tuple[int, str, int, str]]:
    """(position, contract, sequence, type) of the events `list_events` returns."""
    with database.session() as session:
        found = repository.list_events(session, **filters)  # type: ignore[arg-type]
    return [(e.position, e.contract_id, e.sequence, e.type.value) for e in found]


# --- the migration -------------------------------------------------------------------------------


def test_events_migrate_onto_a_database_that_holds_contracts(database_url: str) -> None:
    """0004 on a database at 0003 with a contract and its audit entry: the rows stay as they
    were, no event is made up for them, and events can be written."""
    database = _at_revision(database_url, "0003")
    with database.session() as session:
        repository.add_location(session, GENEVA)
        repository.add_plan(session, HOT_DESK)
        repository.add_customer(session, ACME)
        repository.record_contract(session, contract())
        repository.record_audit(
            session, key="contract-c1", at=AT, actor="alice", reason="", command="create",
            contract_id="c1", effect="Created.",
        )  # fmt: skip
    database.migrate()
    assert _revision(database) == HEAD
    with database.session() as session:
        assert repository.get_contract(session, "c1").contract == contract()
        assert [entry.key for entry in repository.audit_entries(session)] == ["contract-c1"]
        assert repository.list_events(session) == []
        assert repository.last_position(session) == 0
    write(database, "contract-c1/2027-03-01", refused(contract()))
    assert [row[1:] for row in listed(database)] == [("c1", 1, "command.refused")]
    database.dispose()


def test_events_downgrade_on_a_database_without_events(database: Database) -> None:
    record_catalog(database)
    _migrate(database, command.downgrade, "0003")
    assert _revision(database) == "0003"
    assert "events" not in inspect(database.engine).get_table_names()
    with database.session() as session:
        assert repository.get_contract(session, "c1").contract == contract()
    database.migrate()
    write(database, "k", created(contract()))
    assert [row[1:] for row in listed(database)] == [("c1", 1, "contract.created")]


def test_events_downgrade_is_refused_once_events_are_recorded(database: Database) -> None:
    """Consumers read them by position: the schema before has nowhere to keep them."""
    write(database, "k", created(contract()))
    with pytest.raises(RuntimeError, match=r"Cannot downgrade from 0004: 1 event\(s\)"):
        _migrate(database, command.downgrade, "0003")
    assert _revision(database) == HEAD
    assert [row[1:] for row in listed(database)] == [("c1", 1, "contract.created")]


def test_the_schema_refuses_an_unknown_type_and_a_second_sequence_number(
    database: Database,
) -> None:
    write(database, "k", created(contract()))
    columns = "id, effect_key, contract_id, sequence, type, occurred_at, business_date, payload"
    for values in (
        "'evt_x', 'k2', 'c1', 2, 'contract.paused', '2027-03-01 00:00:00', '2027-03-01', '{}'",
        "'evt_y', 'k2', 'c1', 1, 'contract.created', '2027-03-01 00:00:00', '2027-03-01', '{}'",
    ):
        with pytest.raises(IntegrityError), database.engine.begin() as connection:
            connection.execute(text(f"INSERT INTO events ({columns}) VALUES ({values})"))


# --- writing -------------------------------------------------------------------------------------


def test_each_contract_numbers_its_events_without_gaps_and_positions_order_them_all(
    database: Database,
) -> None:
    c1, c2 = contract("c1"), contract("c2")
    first = write(database, "contract-c1", created(c1))
    write(database, "contract-c2", created(c2))
    with database.session() as session:
        repository.record_events(
            session, {"c1-refusal": refused(c1) * 2, "c2-refusal": refused(c2)}, at=AT
        )

    assert listed(database) == [
        (1, "c1", 1, "contract.created"),
        (2, "c2", 1, "contract.created"),
        (3, "c1", 2, "command.refused"),
        (4, "c1", 3, "command.refused"),
        (5, "c2", 2, "command.refused"),
    ]
    assert first == [event_id("contract-c1", 0)]
    with database.session() as session:
        [stored] = repository.list_events(session, limit=1)
    assert (stored.id, stored.occurred_at, stored.business_date) == (first[0], AT, MAR_1)
    assert stored.payload == created(c1)[0].payload.model_dump(mode="json")
    assert stored.payload["version"] == 1
    assert stored.payload["contract"]["price"] == "300.00"


def test_an_effect_written_again_is_refused_by_its_ids(database: Database) -> None:
    """The callers write an effect's events once (when its audit entry is new); the ids, derived
    from its key, make a second write fail rather than number the same events twice."""
    write(database, "contract-c1", created(contract()))
    with pytest.raises(IntegrityError):
        write(database, "contract-c1", created(contract()))
    assert [row[1:] for row in listed(database)] == [("c1", 1, "contract.created")]


def test_positions_follow_the_commits_of_concurrent_writers(database: Database) -> None:
    """A second writer waits until the first has committed, even for another contract: a consumer
    that has read up to a position never sees an earlier one appear afterwards."""
    written, release = threading.Event(), threading.Event()
    finished: dict[str, float] = {}

    def first() -> None:
        with database.session() as session:
            repository.record_events(session, {"first": created(contract("c1"))}, at=AT)
            written.set()
            release.wait(10)
        finished["first"] = time.monotonic()

    def second() -> None:
        with database.session() as session:
            repository.record_events(
                session, {"second": created(contract("c2")) + refused(contract("c1"))}, at=AT
            )
        finished["second"] = time.monotonic()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert written.wait(10)
    threads[1].start()
    time.sleep(0.5)
    assert "second" not in finished  # waiting for the first to commit
    release.set()
    for thread in threads:
        thread.join(10)

    assert finished["first"] <= finished["second"]
    assert [row[1:] for row in listed(database)] == [
        ("c1", 1, "contract.created"),
        ("c2", 1, "contract.created"),
        ("c1", 2, "command.refused"),
    ]


# --- reading -------------------------------------------------------------------------------------


def test_events_are_read_after_a_position_by_contract_and_type(database: Database) -> None:
    c1, c2 = contract("c1"), contract("c2")
    for key, drafts in (
        ("a", created(c1)), ("b", created(c2)), ("c", refused(c1)), ("d", refused(c2)),
    ):  # fmt: skip
        write(database, key, drafts)

    assert [row[0] for row in listed(database, after=2)] == [3, 4]
    assert [row[0] for row in listed(database, contract_id="c2")] == [2, 4]
    assert [row[0] for row in listed(database, types=[E.COMMAND_REFUSED])] == [3, 4]
    assert [row[0] for row in listed(database, types=[E.CONTRACT_CREATED, E.COMMAND_REFUSED])] == [
        1, 2, 3, 4,
    ]  # fmt: skip
    assert [row[0] for row in listed(database, after=1, limit=2)] == [2, 3]
    assert listed(database, after=4) == []
    with database.session() as session:
        assert repository.last_position(session) == 4


def test_a_refusal_is_found_by_command_actor_and_message_after_a_position(
    database: Database,
) -> None:
    c1 = contract("c1")
    write(database, "a", refused(c1, "cancel", "Contract c1 is already cancelling."))

    def found(after: int = 0, **said: str) -> bool:
        wanted = {"command": "cancel", "actor": "alice", "message": "Contract c1 is already "
                  "cancelling."} | said  # fmt: skip
        with database.session() as session:
            return repository.refusal_recorded(session, "c1", after=after, **wanted)

    assert found()
    assert not found(after=1)
    assert not found(command="uncancel")
    assert not found(actor="bob")
    assert not found(message="Something else.")


def record_catalog(database: Database) -> None:
    with database.session() as session:
        repository.add_location(session, GENEVA)
        repository.add_plan(session, HOT_DESK)
        repository.add_customer(session, ACME)
    record(database, contract())
