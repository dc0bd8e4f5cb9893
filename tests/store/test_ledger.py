"""The deposit ledger (R9) and the audit log (R11): each entry recorded once, sums exact."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.contract import LineKind
from store import repository
from store.db import Database
from store.errors import NotFound
from store.records import AuditEntry, DepositKind, DepositMovement
from tests.store.conftest import INITECH, OFFICE, contract, record
from tests.store.test_invoices import DEPOSIT, issue


@pytest.fixture
def ledger(catalog: Database) -> Database:
    """ACME's Hot Desk c1 replaced by the Office c2; INITECH's Hot Desk c3."""
    record(
        catalog,
        contract("c1"),
        contract("c2", plan=OFFICE, start=date(2027, 5, 1), replaces="c1"),
        contract("c3", customer=INITECH),
    )
    return catalog


def move(
    database: Database,
    contract_id: str,
    kind: DepositKind,
    amount: str,
    on_date: date = date(2027, 3, 1),
    invoice_id: int | None = None,
) -> bool:
    customer_id = "initech" if contract_id == "c3" else "acme"
    with database.session() as session:
        return repository.record_deposit_movement(
            session,
            customer_id=customer_id,
            contract_id=contract_id,
            kind=kind,
            amount=Decimal(amount),
            on_date=on_date,
            invoice_id=invoice_id,
        )


def held(database: Database) -> dict[str, Decimal]:
    with database.session() as session:
        return {
            "c1": repository.held_by_contract(session, "c1"),
            "c2": repository.held_by_contract(session, "c2"),
            "acme": repository.held_by_customer(session, "acme"),
            "initech": repository.held_by_customer(session, "initech"),
        }


def test_a_switch_moves_the_deposit_and_charges_the_top_up(ledger: Database) -> None:
    invoice = issue(ledger, date(2027, 3, 1), DEPOSIT)
    assert move(ledger, "c1", DepositKind.CHARGE, "200.00", invoice_id=invoice.id)
    switch_day = date(2027, 5, 1)
    assert move(ledger, "c1", DepositKind.TRANSFER_OUT, "-200.00", switch_day)
    assert move(ledger, "c2", DepositKind.TRANSFER_IN, "200.00", switch_day)
    assert move(ledger, "c2", DepositKind.CHARGE, "800.00", switch_day)
    assert move(ledger, "c3", DepositKind.CHARGE, "200.00")
    assert held(ledger) == {
        "c1": Decimal("0.00"),
        "c2": Decimal("1000.00"),
        "acme": Decimal("1000.00"),
        "initech": Decimal("200.00"),
    }
    assert str(held(ledger)["acme"]) == "1000.00"
    with ledger.session() as session:
        movements = repository.deposit_movements(session, "acme")
    assert movements[0] == DepositMovement(
        customer_id="acme",
        contract_id="c1",
        kind=DepositKind.CHARGE,
        amount=Decimal("200.00"),
        on_date=date(2027, 3, 1),
        invoice_number=invoice.number,
    )
    assert [(m.contract_id, m.kind, m.invoice_number) for m in movements[1:]] == [
        ("c1", DepositKind.TRANSFER_OUT, None),
        ("c2", DepositKind.TRANSFER_IN, None),
        ("c2", DepositKind.CHARGE, None),
    ]
    assert invoice.lines[0].kind is LineKind.DEPOSIT


def test_a_movement_is_recorded_once_per_contract_and_kind(ledger: Database) -> None:
    assert move(ledger, "c1", DepositKind.CHARGE, "200.00") is True
    assert move(ledger, "c1", DepositKind.CHARGE, "200.00") is False
    assert move(ledger, "c1", DepositKind.CHARGE, "999.00") is False
    assert move(ledger, "c1", DepositKind.REFUND, "-200.00") is True
    assert held(ledger)["acme"] == 0


def test_ledger_sums_are_exact(ledger: Database) -> None:
    move(ledger, "c1", DepositKind.CHARGE, "0.10")
    move(ledger, "c2", DepositKind.CHARGE, "0.20")
    assert str(held(ledger)["acme"]) == "0.30"


@pytest.mark.parametrize(
    ("kind", "amount"),
    [
        (DepositKind.CHARGE, "-1.00"),
        (DepositKind.TRANSFER_IN, "-1.00"),
        (DepositKind.TRANSFER_OUT, "1.00"),
        (DepositKind.REFUND, "1.00"),
    ],
)
def test_a_movement_has_the_sign_of_its_kind(
    ledger: Database, kind: DepositKind, amount: str
) -> None:
    with pytest.raises(ValueError, match="cannot be"):
        move(ledger, "c1", kind, amount)


def test_ledger_of_unknown_ids(ledger: Database) -> None:
    with ledger.session() as session:
        with pytest.raises(NotFound, match="No contract 'nope'"):
            repository.held_by_contract(session, "nope")
        with pytest.raises(NotFound, match="No customer 'nobody'"):
            repository.held_by_customer(session, "nobody")
        with pytest.raises(NotFound, match="No customer 'nobody'"):
            repository.deposit_movements(session, "nobody")
        assert repository.held_by_customer(session, "initech") == 0


AT = datetime(2027, 3, 20, 11, 0, tzinfo=UTC)


def audit(database: Database, key: str, contract_id: str | None, at: datetime = AT) -> bool:
    with database.session() as session:
        return repository.record_audit(
            session,
            key=key,
            at=at,
            actor="ops@termshift",
            reason="customer asked",
            command="cancel",
            contract_id=contract_id,
            effect="c1 ends on 2027-03-21; credit 106.45 CHF",
        )


def test_audit_entries_are_recorded_once_per_key(ledger: Database) -> None:
    assert audit(ledger, "contract-c1/update-1", "c1") is True
    assert audit(ledger, "contract-c1/update-1", "c1") is False
    assert audit(ledger, "contract-c2/update-1", "c2", AT - timedelta(hours=1)) is True
    assert audit(ledger, "catalog/update-1", None, AT + timedelta(hours=1)) is True
    with ledger.session() as session:
        everything = repository.audit_entries(session)
        only_c1 = repository.audit_entries(session, contract_id="c1")
    assert [entry.key for entry in everything] == [
        "contract-c2/update-1",
        "contract-c1/update-1",
        "catalog/update-1",
    ]
    assert only_c1 == [
        AuditEntry(
            key="contract-c1/update-1",
            at=AT,
            actor="ops@termshift",
            reason="customer asked",
            command="cancel",
            contract_id="c1",
            effect="c1 ends on 2027-03-21; credit 106.45 CHF",
        )
    ]


def test_record_audits_inserts_only_the_new_keys(ledger: Database) -> None:
    assert audit(ledger, "contract-c1/update-1", "c1") is True
    entries = [
        AuditEntry(
            key=key,
            at=AT,
            actor="ops@termshift",
            reason="import",
            command="contracts import",
            contract_id="c1",
            effect="created",
        )
        for key in ("contract-c1/update-1", "contract-c2", "contract-c3", "contract-c2")
    ]
    with ledger.session() as session:
        assert repository.record_audits(session, entries) == {"contract-c2", "contract-c3"}
        assert repository.record_audits(session, entries) == set()
        assert repository.record_audits(session, []) == set()
        kept = repository.audit_entries(session)
    assert [(entry.key, entry.command) for entry in kept] == [
        ("contract-c1/update-1", "cancel"),
        ("contract-c2", "contracts import"),
        ("contract-c3", "contracts import"),
    ]


def test_a_contract_without_movements_holds_nothing(ledger: Database) -> None:
    with ledger.session() as session:
        nothing = repository.held_by_contract(session, "c1")
    assert nothing == 0
    assert str(nothing) == "0.00"


def test_what_every_customer_holds_is_read_at_once(ledger: Database) -> None:
    assert move(ledger, "c1", DepositKind.CHARGE, "200.00")
    assert move(ledger, "c1", DepositKind.TRANSFER_OUT, "-200.00")
    assert move(ledger, "c2", DepositKind.TRANSFER_IN, "200.00")
    assert move(ledger, "c2", DepositKind.CHARGE, "800.05")
    with ledger.session() as session:
        everyone = repository.held_by_customers(session)
        one_by_one = {
            customer.id: repository.held_by_customer(session, customer.id)
            for customer in repository.list_customers(session)
        }
    assert everyone == one_by_one == {"acme": Decimal("1000.05"), "initech": Decimal(0)}
    assert {customer: str(amount) for customer, amount in everyone.items()} == {
        "acme": "1000.05",
        "initech": "0.00",  # no movement: nothing held, in the currency's minor units
    }
