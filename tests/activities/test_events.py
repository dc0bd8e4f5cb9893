"""The activities write each effect's events (SPEC §7) once, in the effect's transaction.

A contract's life runs through the activities as a worker runs them (`ActivityEnvironment`), each
activity twice with the same request (a retry): one set of events, each contract numbered 1, 2,
3 … without gaps, the whole in position order. The writers outside the workflow — `contracts
import` and the CLI's record of a refused update — write theirs once too. Every test runs on
SQLite and on PostgreSQL (the `database` fixture).
"""

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import pytest
from temporalio.testing import ActivityEnvironment

from activities.contracts import ContractActivities, RecordNewTerm
from billing import rules
from billing.lifecycle import advance
from store import repository
from store.db import Database
from termshift.services import catalog, imports, refusals
from tests.activities.test_idempotency import (
    ADA,
    ADMIN,
    APR_1,
    BERLIN,
    HOT_DESK,
    MAR_1,
    MAR_10,
    MAR_21,
    OFFICE,
    cancelled,
    command_request,
    contract,
    everything,
    new_term,
    register_request,
    step_request,
    switching,
)

T = TypeVar("T")
MAR_10_NOON = datetime(2027, 3, 10, 11, 0, tzinfo=UTC)
"""When the workflow schedules the commands of these tests: 12:00 on 03-10 in Berlin."""


@pytest.fixture
def activities(database: Database) -> ContractActivities:
    """Activities over a database holding BERLIN, HOT_DESK, OFFICE and the customer ADA."""
    catalog.add_location(database, BERLIN, ADMIN)
    catalog.add_plan(database, HOT_DESK, ADMIN)
    catalog.add_plan(database, OFFICE, ADMIN)
    catalog.add_customer(database, ADA, ADMIN)
    return ContractActivities(database)


def twice(
    database: Database,
    activity: Callable[[Any], T],
    request: Any,
    *,
    scheduled: datetime = MAR_10_NOON,
) -> T:
    """Run the activity as scheduled at `scheduled`, then again: the second run changes
    nothing, events included."""
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(environment.info, scheduled_time=scheduled)
    first = environment.run(activity, request)
    seen = everything(database)
    assert environment.run(activity, request) == first
    assert everything(database) == seen
    return first


Seen = tuple[str, int, str, date]
"""An event as these tests read it: contract, sequence, type, business date."""


def seen(database: Database, *, after: int = 0) -> list[Seen]:
    with database.session() as session:
        found = repository.list_events(session, after=after)
    positions = [event.position for event in found]
    assert positions == sorted(positions)
    return [(e.contract_id, e.sequence, e.type.value, e.business_date) for e in found]


def last(database: Database) -> int:
    with database.session() as session:
        return repository.last_position(session)


def assert_gapless(database: Database) -> None:
    """Each contract's sequence is 1, 2, 3 … in position order."""
    numbers: dict[str, list[int]] = {}
    for contract_id, sequence, _, _ in seen(database):
        numbers.setdefault(contract_id, []).append(sequence)
    for found in numbers.values():
        assert found == list(range(1, len(found) + 1))


# --- the workflow's activities -------------------------------------------------------------------


def test_a_life_writes_each_event_once_numbered_without_gaps(
    database: Database, activities: ContractActivities
) -> None:
    value = contract()
    twice(database, activities.register_contract, register_request(value))
    assert seen(database) == [("c1", 1, "contract.created", date(2027, 3, 10))]

    first = advance(value)
    twice(database, activities.record_day, step_request(first))
    hot_desk = switching(first.contract, to=OFFICE)
    twice(database, activities.record_command, command_request(hot_desk, "schedule-change"))
    switch = advance(hot_desk)
    recorded = twice(database, activities.record_day, step_request(switch))
    assert recorded.successor is not None
    office = advance(recorded.successor)
    twice(database, activities.record_day, step_request(office))

    assert seen(database) == [
        ("c1", 1, "contract.created", date(2027, 3, 10)),
        ("c1", 2, "contract.started", MAR_1),
        ("c1", 3, "invoice.issued", MAR_1),
        ("c1", 4, "deposit.charged", MAR_1),
        ("c1", 5, "contract.change_scheduled", date(2027, 3, 10)),
        ("c1", 6, "contract.switched", APR_1),
        ("c1-t2", 1, "contract.created", APR_1),
        ("c1-t2", 2, "contract.started", APR_1),
        ("c1-t2", 3, "invoice.issued", APR_1),
        ("c1-t2", 4, "deposit.charged", APR_1),
    ]
    assert_gapless(database)
    with database.session() as session:
        charged = repository.list_events(session, contract_id="c1-t2")[-1]
        audit = {entry.key for entry in repository.audit_entries(session)}
    assert charged.payload["deposit"] == {
        "movement": "charge",
        "amount": "800.00",
        "currency": "EUR",
    }
    assert charged.payload["invoice"]["total"] == "2300.00"
    assert charged.id.startswith("evt_")
    assert "contract-c1-t2/2027-04-01" in audit  # the effect the event belongs to


def test_a_refused_command_writes_command_refused_and_nothing_else(
    database: Database, activities: ContractActivities
) -> None:
    value = contract()
    twice(database, activities.register_contract, register_request(value))
    request = command_request(value, "uncancel", accepted=False).model_copy(
        update={"command": "uncancel", "effect": "Refused: Contract c1 has no cancellation."}
    )
    twice(database, activities.record_command, request)

    with database.session() as session:
        *_, refusal = repository.list_events(session)
    assert (refusal.type.value, refusal.sequence) == ("command.refused", 2)
    assert refusal.payload["command"] == {
        "name": "uncancel",
        "actor": "alice",
        "reason": "customer asked",
        "refusal": "Contract c1 has no cancellation.",
    }
    assert refusal.payload["contract"]["status"] == "inactive"


def test_a_command_for_a_contract_never_recorded_is_audited_without_an_event(
    database: Database, activities: ContractActivities
) -> None:
    """A command that waited for a registration that failed: no contract, so no events."""
    request = command_request(contract("ghost"), "cancel", accepted=False)
    twice(database, activities.record_command, request)
    assert seen(database) == []
    with database.session() as session:
        assert [entry.key for entry in repository.audit_entries(session, "ghost")] == [request.key]


def test_an_undone_cut_clears_the_cancellation_and_issues_the_invoice_that_day(
    database: Database, activities: ContractActivities
) -> None:
    value = cancelled(contract(), APR_1 + (APR_1 - MAR_21), prorate=True)  # 04-11
    twice(database, activities.register_contract, register_request(value))
    for _ in range(2):  # 03-01, then 04-01: cut at 04-11
        step = advance(value)
        twice(database, activities.record_day, step_request(step))
        value = step.contract
    undo = rules.uncancel(value, requested=ADMIN, today=date(2027, 4, 5))
    assert isinstance(undo, rules.Decision)
    assert undo.invoice is not None
    since = last(database)
    request = command_request(undo.contract, "uncancel").model_copy(
        update={"invoice": undo.invoice}
    )

    twice(
        database,
        activities.record_command,
        request,
        scheduled=datetime(2027, 4, 5, 10, 0, tzinfo=UTC),
    )

    assert seen(database, after=since) == [
        ("c1", 6, "contract.cancellation_cleared", date(2027, 4, 5)),
        ("c1", 7, "invoice.issued", date(2027, 4, 5)),
    ]


def test_a_manual_switch_writes_the_old_ones_change_and_the_new_terms_creation(
    database: Database, activities: ContractActivities
) -> None:
    value = contract()
    twice(database, activities.register_contract, register_request(value))
    started = advance(value)
    twice(database, activities.record_day, step_request(started))
    old = cancelled(started.contract, MAR_21, prorate=True)
    successor = new_term(old, "c1-t2", OFFICE)
    request = RecordNewTerm(
        old=old.model_copy(update={"successor_id": successor.id}),
        successor=successor,
        command="switch",
        requested=ADMIN,
        effect="Switched.",
        key="contract-c1/run-1/switch",
    )
    since = last(database)

    twice(database, activities.record_new_term, request)

    assert seen(database, after=since) == [
        ("c1", 5, "contract.cancellation_scheduled", MAR_10),
        ("c1-t2", 1, "contract.created", MAR_10),
    ]
    ended = advance(request.old)
    twice(database, activities.record_day, step_request(ended))
    assert [event[2] for event in seen(database, after=since + 2)] == [
        "invoice.issued",
        "contract.switched",  # linked to its next term: the deposit passes on, no refund
    ]
    assert_gapless(database)


# --- the writers outside the workflow ------------------------------------------------------------


def test_an_import_writes_one_created_event_per_new_contract(
    database: Database, activities: ContractActivities
) -> None:
    del activities  # the catalog
    rows = [contract("c1"), contract("c2", plan=OFFICE)]
    for _ in range(2):
        imports.register_contracts(database, rows, ADMIN, key=lambda cid: f"contract-{cid}")

    assert [(event[0], event[1], event[2]) for event in seen(database)] == [
        ("c1", 1, "contract.created"),
        ("c2", 1, "contract.created"),
    ]
    with database.session() as session:
        [first, _] = repository.list_events(session)
    assert first.payload["command"]["name"] == "contracts import"


def test_the_cli_records_a_refusal_once_unless_the_workflow_did(
    database: Database, activities: ContractActivities
) -> None:
    value = contract()
    twice(database, activities.register_contract, register_request(value))
    message = "Contract c1 has no cancellation to undo."
    since = last(database)

    # Refused by the update's validator: nothing recorded it, so the CLI does.
    assert refusals.record_refusal(database, "c1", "uncancel", ADMIN, message, since=since)
    # Refused inside the workflow: its activity recorded it after `since`, so the CLI does not.
    assert not refusals.record_refusal(database, "c1", "uncancel", ADMIN, message, since=since)
    # A contract that was never recorded has no events.
    assert not refusals.record_refusal(database, "nosuch", "uncancel", ADMIN, message, since=0)

    with database.session() as session:
        *_, refusal = repository.list_events(session)
    assert (refusal.contract_id, refusal.sequence, refusal.type.value) == (
        "c1",
        2,
        "command.refused",
    )
    assert refusal.payload["command"]["refusal"] == message
    assert refusal.payload["contract"]["price"] == "1000.00"
    assert_gapless(database)
