"""Activities are idempotent (R12): run twice with the same input, they leave one effect.

Each activity runs through Temporal's `ActivityEnvironment`, as a worker would run it, and then
again with the very same request — a retry after a crash, or a replayed workflow. The second run
must change nothing a user can see: invoices, deposit movements, contract rows, the audit log and
the events (`tests/activities/test_events.py` says which events each writes).
Every test runs on SQLite and on PostgreSQL (the `database` fixture).
"""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.contracts import ContractActivities, RecordCommand, RecordStep, RegisterContract
from billing import rules
from billing.contract import (
    Command,
    Contract,
    ContractStatus,
    Customer,
    Location,
    Plan,
    new_contract,
)
from billing.lifecycle import Step, advance
from store import repository
from store.db import Database
from store.records import IssuedInvoice
from termshift.services import catalog

T = TypeVar("T")

ADMIN = Command(actor="alice", reason="customer asked")
BERLIN = Location(id="ber", name="Berlin Mitte", timezone="Europe/Berlin", currency="EUR")
HOT_DESK = Plan(
    code="hot-desk", name="Hot Desk", location_id="ber", price=Decimal("1000.00"),
    deposit=Decimal("200.00"),
)  # fmt: skip
OFFICE = Plan(
    code="office", name="Office", location_id="ber", price=Decimal("1500.00"),
    deposit=Decimal("1000.00"), prorate_first_invoice=True,
)  # fmt: skip
ADA = Customer(id="ada", name="Ada Lovelace", email="ada@example.com", location_id="ber")

MAR_1, MAR_10, MAR_21, APR_1 = (
    date(2027, 3, 1),
    date(2027, 3, 10),
    date(2027, 3, 21),
    date(2027, 4, 1),
)


# --- builders --------------------------------------------------------------------------------


@pytest.fixture
def activities(database: Database) -> ContractActivities:
    """Activities over a database holding BERLIN, HOT_DESK, OFFICE and the customer ADA."""
    catalog.add_location(database, BERLIN, ADMIN)
    catalog.add_plan(database, HOT_DESK, ADMIN)
    catalog.add_plan(database, OFFICE, ADMIN)
    catalog.add_customer(database, ADA, ADMIN)
    return ContractActivities(database)


def run(activity: Callable[[Any], T], request: Any) -> T:
    return ActivityEnvironment().run(activity, request)


def run_twice(database: Database, activity: Callable[[Any], T], request: Any) -> T:
    """Run the activity twice; the second run returns the same and changes nothing."""
    first = run(activity, request)
    seen = everything(database)
    assert run(activity, request) == first
    assert everything(database) == seen
    return first


def contract(
    contract_id: str = "c1", plan: Plan = HOT_DESK, start: date = MAR_1, customer: str = ADA.id
) -> Contract:
    return new_contract(
        id=contract_id, customer_id=customer, location=BERLIN, plan=plan, start=start
    )


def register_request(value: Contract) -> RegisterContract:
    return RegisterContract(contract=value, requested=ADMIN, key=f"contract-{value.id}")


def step_request(step: Step) -> RecordStep:
    return RecordStep(step=step, key=f"contract-{step.contract.id}/{step.day}")


def record(activities: ContractActivities, step: Step) -> Contract:
    """Record one step as the workflow does; the contract after it."""
    run(activities.record_step, step_request(step))
    return step.contract


def started(activities: ContractActivities, value: Contract) -> Contract:
    """Register the contract and record its first invoice."""
    run(activities.register_contract, register_request(value))
    return record(activities, advance(value))


def cancelled(value: Contract, on: date, *, prorate: bool) -> Contract:
    decision = rules.cancel(value, date=on, prorate=prorate, requested=ADMIN, today=MAR_10)
    assert isinstance(decision, rules.Decision), decision
    return decision.contract


def switching(value: Contract, to: Plan) -> Contract:
    decision = rules.schedule_change(value, next_plan=to, requested=ADMIN, today=MAR_10)
    assert isinstance(decision, rules.Decision), decision
    return decision.contract


def new_term(old: Contract, contract_id: str, plan: Plan) -> Contract:
    """A manual new term starting on the old contract's cancellation date, billing day kept."""
    decision = rules.new_term(
        old, id=contract_id, plan=plan, start=None, price=None, anchor=None,
        prorate_first_invoice=True, requested=ADMIN, today=MAR_10,
    )  # fmt: skip
    assert isinstance(decision, rules.Decision), decision
    return decision.contract


# --- what a user sees ------------------------------------------------------------------------


def everything(database: Database) -> tuple[object, ...]:
    with database.session() as session:
        return (
            repository.list_contracts(session),
            repository.list_invoices(session),
            repository.deposit_movements(session, ADA.id),
            repository.audit_entries(session),
            repository.list_events(session),
        )


def lines(invoice: IssuedInvoice) -> list[tuple[str, date, date, Decimal]]:
    return [
        (line.kind.value, line.period_start, line.period_end, line.amount) for line in invoice.lines
    ]


def invoices(database: Database, contract_id: str) -> list[IssuedInvoice]:
    with database.session() as session:
        return repository.list_invoices(session, contract_id=contract_id)


def movements(database: Database) -> list[tuple[str, str, Decimal]]:
    with database.session() as session:
        return [
            (move.contract_id, move.kind.value, move.amount)
            for move in repository.deposit_movements(session, ADA.id)
        ]


def held(database: Database) -> Decimal:
    with database.session() as session:
        return repository.held_by_customer(session, ADA.id)


def stored(database: Database, contract_id: str) -> Contract:
    with database.session() as session:
        return repository.get_contract(session, contract_id).contract


def contract_ids(database: Database) -> set[str]:
    with database.session() as session:
        return repository.contract_ids(session)


def audit_keys(database: Database, contract_id: str | None = None) -> list[str]:
    with database.session() as session:
        return [entry.key for entry in repository.audit_entries(session, contract_id)]


# --- register_contract -----------------------------------------------------------------------


def test_register_contract_twice_records_one_row_and_one_audit_entry(
    database: Database, activities: ContractActivities
) -> None:
    value = contract()
    run_twice(database, activities.register_contract, register_request(value))

    assert contract_ids(database) == {"c1"}
    assert stored(database, "c1") == value
    assert audit_keys(database, "c1") == ["contract-c1"]


@pytest.mark.parametrize(
    "other_terms",
    [{"start": APR_1}, {"price": Decimal("900.00")}],
    ids=["other-start", "other-price"],
)
def test_register_contract_refuses_an_id_taken_by_other_terms(
    database: Database, activities: ContractActivities, other_terms: dict[str, object]
) -> None:
    run(activities.register_contract, register_request(contract()))
    before = everything(database)
    clash = contract().model_copy(update=other_terms)

    with pytest.raises(ApplicationError) as refused:
        run(activities.register_contract, register_request(clash))

    assert refused.value.non_retryable
    assert refused.value.type == "Conflict"
    assert "'c1' already exists" in refused.value.message
    assert everything(database) == before


def test_register_contract_of_an_unknown_customer_fails_at_once_and_writes_nothing(
    database: Database, activities: ContractActivities
) -> None:
    audit_before = audit_keys(database)

    with pytest.raises(ApplicationError) as refused:
        run(activities.register_contract, register_request(contract(customer="nobody")))

    assert refused.value.non_retryable
    assert refused.value.type == "NotFound"
    assert "nobody" in refused.value.message
    assert contract_ids(database) == set()
    assert audit_keys(database) == audit_before


# --- record_step -----------------------------------------------------------------------------


def test_first_invoice_twice_charges_the_period_and_the_deposit_once(
    database: Database, activities: ContractActivities
) -> None:
    value = contract()
    run(activities.register_contract, register_request(value))
    step = advance(value)

    invoice = run_twice(database, activities.record_step, step_request(step))

    assert invoice is not None
    assert lines(invoice) == [
        ("plan", MAR_1, APR_1, Decimal("1000.00")),
        ("deposit", MAR_1, MAR_1, Decimal("200.00")),
    ]
    assert invoice.total == Decimal("1200.00")
    assert invoices(database, "c1") == [invoice]
    assert movements(database) == [("c1", "charge", Decimal("200.00"))]
    assert stored(database, "c1").status is ContractStatus.ACTIVE
    assert stored(database, "c1") == step.contract
    assert audit_keys(database, "c1") == ["contract-c1", "contract-c1/2027-03-01"]


def test_automated_switch_twice_starts_one_successor_and_moves_the_deposit_once(
    database: Database, activities: ContractActivities
) -> None:
    hot_desk = switching(started(activities, contract()), to=OFFICE)
    run(activities.record_command, command_request(hot_desk, "schedule-change"))
    switch = advance(hot_desk)
    assert switch.day == APR_1
    assert switch.successor is not None

    assert run_twice(database, activities.record_step, step_request(switch)) is None

    office = switch.successor.id
    assert contract_ids(database) == {"c1", office}
    assert stored(database, office) == switch.successor
    assert stored(database, "c1").status is ContractStatus.CANCELLED
    assert stored(database, "c1").successor_id == office
    assert [invoice.issue_date for invoice in invoices(database, "c1")] == [MAR_1]  # no refund
    assert movements(database) == [
        ("c1", "charge", Decimal("200.00")),
        ("c1", "transfer_out", Decimal("-200.00")),
        (office, "transfer_in", Decimal("200.00")),
    ]
    assert held(database) == Decimal("200.00")

    # The successor's first invoice charges only the top-up over the 200 it inherited (SPEC §4).
    first = run_twice(database, activities.record_step, step_request(advance(switch.successor)))

    assert first is not None
    assert lines(first) == [
        ("plan", APR_1, date(2027, 5, 1), Decimal("1500.00")),
        ("deposit", APR_1, APR_1, Decimal("800.00")),
    ]
    assert invoices(database, office) == [first]
    assert movements(database)[-1] == (office, "charge", Decimal("800.00"))
    assert len(movements(database)) == 4
    assert held(database) == Decimal("1000.00")
    assert audit_keys(database, office) == [f"contract-{office}/2027-04-01"]


def test_end_with_prorated_cancellation_twice_credits_and_refunds_once(
    database: Database, activities: ContractActivities
) -> None:
    hot_desk = cancelled(started(activities, contract()), MAR_21, prorate=True)
    run(activities.record_command, command_request(hot_desk, "cancel"))
    end = advance(hot_desk)
    assert end.day == MAR_21

    credit = run_twice(database, activities.record_step, step_request(end))

    assert credit is not None
    assert lines(credit) == [
        ("proration_credit", MAR_21, APR_1, Decimal("-354.84")),  # 11/31 of 1,000.00 (SPEC §4)
        ("deposit_refund", MAR_21, MAR_21, Decimal("-200.00")),
    ]
    assert credit.total == Decimal("-554.84")
    assert [invoice.issue_date for invoice in invoices(database, "c1")] == [MAR_1, MAR_21]
    assert movements(database)[-1] == ("c1", "refund", Decimal("-200.00"))
    assert len(movements(database)) == 2
    assert held(database) == Decimal("0.00")
    assert stored(database, "c1").status is ContractStatus.CANCELLED
    assert stored(database, "c1").end == MAR_21


def test_a_deposit_stays_held_while_another_contract_runs_then_all_is_refunded_once(
    database: Database, activities: ContractActivities
) -> None:
    hot_desk = cancelled(started(activities, contract()), MAR_21, prorate=True)
    office = cancelled(started(activities, contract("c2", OFFICE)), APR_1, prorate=False)
    assert held(database) == Decimal("1200.00")

    credit = run_twice(database, activities.record_step, step_request(advance(hot_desk)))

    assert credit is not None
    assert lines(credit) == [("proration_credit", MAR_21, APR_1, Decimal("-354.84"))]
    assert held(database) == Decimal("1200.00")

    # The customer's last contract ends: everything held, both deposits, is credited back.
    refund = run_twice(database, activities.record_step, step_request(advance(office)))

    assert refund is not None
    assert lines(refund) == [("deposit_refund", APR_1, APR_1, Decimal("-1200.00"))]
    assert held(database) == Decimal("0.00")
    # The refund empties every contract's holding, so none can pass a deposit on later.
    assert sorted(movements(database)) == sorted(
        [
            ("c1", "charge", Decimal("200.00")),
            ("c2", "charge", Decimal("1000.00")),
            ("c1", "refund", Decimal("-200.00")),
            ("c2", "refund", Decimal("-1000.00")),
        ]
    )


# --- record_command --------------------------------------------------------------------------


def command_request(
    value: Contract, command: str, *, accepted: bool = True, key: str | None = None
) -> RecordCommand:
    return RecordCommand(
        contract=value if accepted else None,
        contract_id=value.id,
        command=f"contracts {command}",
        requested=ADMIN,
        effect=f"{command} {'accepted' if accepted else 'refused'}",
        key=key or f"contract-{value.id}/run-1/{command}",
    )


@pytest.mark.parametrize("accepted", [True, False], ids=["accepted", "refused"])
def test_record_command_twice_saves_once_and_audits_once(
    database: Database, activities: ContractActivities, accepted: bool
) -> None:
    before = started(activities, contract())
    after = switching(before, to=OFFICE)
    request = command_request(after, "schedule-change", accepted=accepted)

    run_twice(database, activities.record_command, request)

    assert stored(database, "c1") == (after if accepted else before)
    with database.session() as session:
        entries = repository.audit_entries(session, "c1")
    assert [(entry.key, entry.actor, entry.reason, entry.effect) for entry in entries][-1] == (
        request.key,
        "alice",
        "customer asked",
        request.effect,
    )
    assert len(entries) == 3  # registered, first invoice, this command


def test_load_plan_of_an_unknown_code_fails_at_once(activities: ContractActivities) -> None:
    assert run(activities.load_plan, "office") == OFFICE
    with pytest.raises(ApplicationError) as refused:
        run(activities.load_plan, "penthouse")
    assert refused.value.non_retryable
    assert refused.value.type == "unknown_plan"


# --- a manual new term racing the old contract's end ------------------------------------------


@pytest.mark.parametrize("old_end_first", [True, False], ids=["old-end-first", "new-term-first"])
def test_new_term_racing_the_old_end_passes_the_deposit_on_once(
    database: Database, activities: ContractActivities, old_end_first: bool
) -> None:
    """Both workflows wake at 00:00 on 03-21: whichever records first, the ledger is the same."""
    hot_desk = cancelled(started(activities, contract()), MAR_21, prorate=True)
    run(activities.record_command, command_request(hot_desk, "cancel"))
    office = new_term(hot_desk, "c1-t2", OFFICE)
    run(activities.register_contract, register_request(office))
    old_end, first_invoice = advance(hot_desk), advance(office)
    assert old_end.day == first_invoice.day == MAR_21

    for step in (old_end, first_invoice) if old_end_first else (first_invoice, old_end):
        run_twice(database, activities.record_step, step_request(step))

    assert [lines(invoice) for invoice in invoices(database, "c1")] == [
        [("plan", MAR_1, APR_1, Decimal("1000.00")), ("deposit", MAR_1, MAR_1, Decimal("200.00"))],
        [("proration_credit", MAR_21, APR_1, Decimal("-354.84"))],  # no deposit_refund
    ]
    assert [lines(invoice) for invoice in invoices(database, "c1-t2")] == [
        [
            ("plan", MAR_21, APR_1, Decimal("532.26")),  # 11/31 of 1,500.00 (SPEC §4)
            ("deposit", MAR_21, MAR_21, Decimal("800.00")),  # only the top-up over 200
        ]
    ]
    assert sorted(movements(database)) == [
        ("c1", "charge", Decimal("200.00")),
        ("c1", "transfer_out", Decimal("-200.00")),
        ("c1-t2", "charge", Decimal("800.00")),
        ("c1-t2", "transfer_in", Decimal("200.00")),
    ]
    assert held(database) == Decimal("1000.00")


def test_a_new_term_after_everything_was_refunded_charges_the_full_deposit(
    database: Database, activities: ContractActivities
) -> None:
    hot_desk = cancelled(started(activities, contract()), MAR_21, prorate=True)
    office = cancelled(started(activities, contract("c2", OFFICE)), APR_1, prorate=False)
    record(activities, advance(hot_desk))  # held: c2 still runs
    record(activities, advance(office))  # the last contract ends: 1,200 refunded
    assert held(database) == Decimal("0.00")
    later = rules.new_term(
        stored(database, "c1"), id="c1-t2", plan=OFFICE, start=date(2027, 4, 15), price=None,
        anchor=None, prorate_first_invoice=False, requested=ADMIN, today=date(2027, 4, 10),
    )  # fmt: skip
    assert isinstance(later, rules.Decision), later
    run(activities.register_contract, register_request(later.contract))

    first = run(activities.record_step, step_request(advance(later.contract)))

    assert first is not None
    assert ("deposit", date(2027, 4, 15), date(2027, 4, 15), Decimal("1000.00")) in lines(first)
    assert held(database) == Decimal("1000.00")
