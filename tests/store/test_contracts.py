"""Contracts: recorded once per id, replaced at most once, their state saved and queried."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing.contract import (
    Cancellation,
    ChangeKind,
    Command,
    ContractStatus,
    ScheduledChange,
)
from billing.terms import Terms
from store import repository
from store.db import Database
from store.errors import Conflict, NotFound
from store.models import ContractRow
from store.repository import _shared
from tests.store.conftest import ACME, HOT_DESK, INITECH, OFFICE, contract, record

ADMIN = Command(actor="ops@termshift", reason="customer asked")


def test_record_contract_is_idempotent(catalog: Database) -> None:
    value = contract()
    with catalog.session() as session:
        assert repository.record_contract(session, value) is True
        assert repository.record_contract(session, value) is False
    with catalog.session() as session:
        assert repository.record_contract(session, value) is False
        assert repository.contract_ids(session) == {"c1"}
        record_ = repository.get_contract(session, "c1")
    assert record_.contract == value
    assert record_.created_at.tzinfo is not None


@pytest.mark.parametrize(
    "other",
    [
        contract(customer=INITECH),
        contract(plan=OFFICE),
        contract(start=date(2027, 3, 2)),
        contract(price=Decimal("280.00")),
    ],
    ids=["customer", "plan", "start", "price"],
)
def test_a_different_contract_under_a_taken_id_conflicts(catalog: Database, other: object) -> None:
    record(catalog, contract())
    with pytest.raises(Conflict, match="Contract 'c1' already exists"), catalog.session() as s:
        repository.record_contract(s, other)  # type: ignore[arg-type]


def test_a_contract_is_replaced_at_most_once(catalog: Database) -> None:
    record(catalog, contract("c1"), contract("c2", replaces="c1"))
    with catalog.session() as session:
        assert repository.successor_of(session, "c1") == "c2"
        assert repository.successor_of(session, "c2") is None
        assert repository.record_contract(session, contract("c2", replaces="c1")) is False
    with (
        pytest.raises(Conflict, match="'c1' is already replaced by 'c2'"),
        catalog.session() as session,
    ):
        repository.record_contract(session, contract("c3", replaces="c1"))


def test_record_contract_needs_its_customer_plan_and_predecessor(catalog: Database) -> None:
    with catalog.session() as session:
        with pytest.raises(NotFound, match="No customer 'ghost'"):
            repository.record_contract(
                session, contract().model_copy(update={"customer_id": "ghost"})
            )
        with pytest.raises(NotFound, match="No contract 'c0'"):
            repository.record_contract(session, contract(replaces="c0"))


def _columns(database: Database, contract_id: str) -> ContractRow:
    with database.session() as session:
        return session.scalars(select(ContractRow).where(ContractRow.id == contract_id)).one()


def test_save_contract_updates_the_state_columns(catalog: Database) -> None:
    recorded = contract()
    record(catalog, recorded)
    active = recorded.model_copy(
        update={
            "status": ContractStatus.ACTIVE,
            "next_invoice_date": date(2027, 4, 1),
            "billed_from": date(2027, 3, 1),
            "billed_through": date(2027, 4, 1),
            "cancellation": Cancellation(date=date(2027, 3, 21), prorate=True, requested=ADMIN),
            "scheduled_change": ScheduledChange(
                kind=ChangeKind.NEXT_PLAN, next_plan=OFFICE, requested=ADMIN
            ),
        }
    )
    with catalog.session() as session:
        repository.save_contract(session, active)
    row = _columns(catalog, "c1")
    assert (row.status, row.next_invoice_date) == ("active", date(2027, 4, 1))
    assert (row.billed_from, row.billed_through) == (date(2027, 3, 1), date(2027, 4, 1))
    assert (row.cancellation_date, row.cancellation_prorate) == (date(2027, 3, 21), True)
    assert (row.next_plan_code, row.cancel_at_next_invoice) == ("office", False)
    assert row.updated_at >= row.created_at

    ended = active.model_copy(
        update={
            "status": ContractStatus.CANCELLED,
            "cancellation": None,
            "scheduled_change": ScheduledChange(
                kind=ChangeKind.CANCEL_AT_NEXT_INVOICE, requested=ADMIN
            ),
            "end": date(2027, 4, 1),
            "successor_id": "c2",
        }
    )
    with catalog.session() as session:
        repository.save_contract(session, ended)
        assert repository.get_contract(session, "c1").contract == ended
    row = _columns(catalog, "c1")
    assert (row.status, row.end_date, row.successor_id) == ("cancelled", date(2027, 4, 1), "c2")
    assert (row.cancellation_date, row.cancellation_prorate) == (None, None)
    assert (row.next_plan_code, row.cancel_at_next_invoice) == (None, True)


def test_the_commitment_end_is_a_state_column(catalog: Database) -> None:
    committed = HOT_DESK.model_copy(
        update={"code": "committed", "terms": Terms(minimum_term="12 months")}
    )
    with catalog.session() as session:
        repository.add_plan(session, committed)
    recorded = contract(plan=committed)
    assert recorded.commitment_end == date(2028, 3, 1)
    record(catalog, recorded, contract("c2"))
    assert _columns(catalog, "c1").commitment_end == date(2028, 3, 1)
    assert _columns(catalog, "c2").commitment_end is None
    frozen = recorded.model_copy(update={"commitment_end": date(2028, 5, 1)})  # two cycles
    with catalog.session() as session:
        repository.save_contract(session, frozen)
        assert repository.get_contract(session, "c1").contract == frozen
        assert repository.get_contract(session, "c1").contract.terms == committed.terms
    assert _columns(catalog, "c1").commitment_end == date(2028, 5, 1)
    with catalog.session() as session:
        ending = select(ContractRow.id).where(ContractRow.commitment_end <= date(2028, 6, 1))
        assert session.scalars(ending).all() == ["c1"]


def test_saving_the_same_state_again_changes_nothing(catalog: Database) -> None:
    record(catalog, contract())
    active = contract().model_copy(update={"status": ContractStatus.ACTIVE})
    with catalog.session() as session:
        repository.save_contract(session, active)
    first = _columns(catalog, "c1").updated_at
    with catalog.session() as session:
        repository.save_contract(session, active)
    assert _columns(catalog, "c1").updated_at == first


def test_save_contract_needs_a_recorded_contract(catalog: Database) -> None:
    with pytest.raises(NotFound, match="No contract 'c1'"), catalog.session() as session:
        repository.save_contract(session, contract())


def test_list_contracts_filters(catalog: Database) -> None:
    record(catalog, contract("c1"), contract("c2", customer=INITECH), contract("c3"))
    with catalog.session() as session:
        repository.save_contract(
            session, contract("c3").model_copy(update={"status": ContractStatus.ACTIVE})
        )

    def ids(**filters: object) -> list[str]:
        with catalog.session() as session:
            found = repository.list_contracts(session, **filters)  # type: ignore[arg-type]
        return [r.contract.id for r in found]

    assert ids() == ["c1", "c2", "c3"]
    assert ids(customer_id="acme") == ["c1", "c3"]
    assert ids(location_id="geneva", status=ContractStatus.INACTIVE) == ["c1", "c2"]
    assert ids(customer_id="acme", status=ContractStatus.ACTIVE) == ["c3"]
    assert ids(location_id="tokyo") == []


def test_get_contract_of_an_unknown_id(catalog: Database) -> None:
    with pytest.raises(NotFound, match="No contract 'nope'"), catalog.session() as session:
        repository.get_contract(session, "nope")


def test_has_other_live_contract(catalog: Database) -> None:
    on = date(2027, 6, 1)
    record(catalog, contract("c1"), contract("c2"), contract("other", customer=INITECH))

    def live() -> bool:
        with catalog.session() as session:
            return repository.has_other_live_contract(session, "acme", excluding="c1", on=on)

    def save(**state: object) -> None:
        with catalog.session() as session:
            repository.save_contract(session, contract("c2").model_copy(update=state))

    assert live() is True  # c2 is future (inactive)
    save(status=ContractStatus.CANCELLED, end=date(2027, 6, 2))
    assert live() is True  # c2 still serves on the 1st
    save(status=ContractStatus.CANCELLED, end=on)
    assert live() is False  # c2 ended at 00:00 on the 1st; INITECH's contract is not ACME's


# --- Many at once ------------------------------------------------------------------------------


def test_record_contracts_inserts_the_new_and_keeps_the_recorded(
    catalog: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_shared, "IN_CHUNK", 3)  # several IN queries for one call
    record(catalog, contract("c1"), contract("c4"))
    many = [contract(f"c{i}", customer=INITECH if i % 2 else ACME) for i in range(2, 9)]
    many[2] = contract("c4")  # recorded before, the same terms
    with catalog.session() as session:
        inserted = repository.record_contracts(session, [contract("c1"), *many, many[0]])
        assert inserted == {"c2", "c3", "c5", "c6", "c7", "c8"}
        assert repository.record_contracts(session, many) == set()
        assert repository.contract_ids(session) == {f"c{i}" for i in range(1, 9)}
        assert repository.get_contract(session, "c7").contract == many[5]


def test_record_contracts_writes_nothing_when_one_is_at_fault(catalog: Database) -> None:
    record(catalog, contract("c1"))
    attic = OFFICE.model_copy(update={"code": "attic"})
    faults: list[tuple[list[object], type[Exception], str]] = [
        ([contract("c2"), contract("c1", plan=OFFICE)], Conflict, "Contract 'c1' already exists"),
        ([contract("c2"), contract("c2", start=date(2027, 4, 1))], Conflict, "'c2' already exists"),
        (
            [contract("c2"), contract("c3").model_copy(update={"customer_id": "ghost"})],
            NotFound,
            "No customer 'ghost'",
        ),
        (
            [contract("c2"), contract("c3").model_copy(update={"plan": attic})],
            NotFound,
            "No plan 'attic'",
        ),
        ([contract("c2"), contract("c3", replaces="c0")], NotFound, "No contract 'c0'"),
    ]
    for contracts, error, message in faults:
        with pytest.raises(error, match=message), catalog.session() as session:
            repository.record_contracts(session, contracts)  # type: ignore[arg-type]
        with catalog.session() as session:
            assert repository.contract_ids(session) == {"c1"}


def test_record_contracts_links_replacements_in_the_same_call(catalog: Database) -> None:
    with catalog.session() as session:
        inserted = repository.record_contracts(
            session, [contract("c2", replaces="c1"), contract("c3", replaces="c2"), contract("c1")]
        )
        assert inserted == {"c1", "c2", "c3"}
        assert repository.successor_of(session, "c1") == "c2"
        assert repository.successor_of(session, "c2") == "c3"
    with (
        pytest.raises(Conflict, match="'c1' is already replaced by 'c2'"),
        catalog.session() as session,
    ):
        repository.record_contracts(session, [contract("c4"), contract("c5", replaces="c1")])
    with catalog.session() as session:
        assert "c4" not in repository.contract_ids(session)
