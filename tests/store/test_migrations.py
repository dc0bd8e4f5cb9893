"""The migrations build exactly the schema the models describe, in code and from the CLI."""

import subprocess
import sys
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from billing.contract import InvoiceLine, InvoicePurpose, LineKind, Plan
from billing.terms import Renewal, Terms
from store import repository
from store.db import Database, alembic_config
from store.models import Base, ContractRow, PlanRow
from store.records import DepositKind, DepositMovement, IssuedInvoice
from tests.store.conftest import ACME, GENEVA, HOT_DESK, contract

STORE = Path(__file__).resolve().parents[2] / "store"
HEAD = "0006"


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_removes_every_table(database: Database) -> None:
    _migrate(database, command.downgrade, "base")
    assert set(inspect(database.engine).get_table_names()) == {"alembic_version"}
    database.migrate()
    assert set(inspect(database.engine).get_table_names()) > set(Base.metadata.tables)


def test_alembic_cli_upgrades_and_checks(database_url: str) -> None:
    options = ["-x", f"url={database_url}"]

    def alembic(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(STORE / "alembic.ini"), *options, *args],
            check=True,
            capture_output=True,
        )

    alembic("upgrade", "head")
    alembic("check")
    database = Database(database_url)
    assert set(inspect(database.engine).get_table_names()) >= set(Base.metadata.tables)
    database.dispose()


def test_uncancel_invoices_migrate_with_the_invoices_already_issued(database_url: str) -> None:
    """0002 widens the invoices' purposes on a database that already holds invoices and lines."""
    database = _at_revision(database_url, "0001")
    issued, movements = _store_before_terms(database)
    database.migrate()
    with database.session() as session:
        assert repository.list_invoices(session, contract_id="c1") == [issued]
        assert repository.deposit_movements(session, ACME.id) == movements
        undone = repository.insert_invoice(
            session,
            contract_id="c1",
            customer_id=ACME.id,
            currency="CHF",
            issue_date=date(2027, 3, 5),
            lines=[_line(date(2027, 3, 11), date(2027, 4, 1), "203.23")],
            purpose=InvoicePurpose.UNCANCEL,
        )
    assert undone.purpose is InvoicePurpose.UNCANCEL
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        connection.execute(
            text("UPDATE invoices SET purpose = 'other' WHERE id = :id"), {"id": undone.id}
        )
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        connection.execute(text("DELETE FROM invoices WHERE id = :id"), {"id": issued.id})
    database.dispose()


# --- 0003: contract terms ----------------------------------------------------------------------


def test_terms_migrate_with_the_rows_stored_before(database_url: str) -> None:
    """0003 on a database holding a plan, a contract, an invoice and a deposit: they read back
    with no terms, and the new columns and line kind can be written."""
    database = _at_revision(database_url, "0002")
    issued, movements = _store_before_terms(database)
    database.migrate()
    with database.session() as session:
        assert repository.get_plan(session, HOT_DESK.code) == HOT_DESK
        assert repository.get_plan(session, HOT_DESK.code).terms == Terms()
        stored = repository.get_contract(session, "c1").contract
        assert stored == contract()
        assert (stored.terms, stored.commitment_end, stored.plan.terms) == (Terms(), None, Terms())
        assert repository.list_invoices(session, contract_id="c1") == [issued]
        assert repository.deposit_movements(session, ACME.id) == movements
    with database.session() as session:
        assert session.scalars(select(PlanRow.renewal)).all() == ["rolling"]
        assert session.scalars(select(ContractRow.commitment_end)).all() == [None]

    committed = stored.model_copy(update={"commitment_end": date(2028, 3, 1)})
    with database.session() as session:
        repository.add_plan(session, YEARLY)
        repository.save_contract(session, committed)
        early = repository.insert_invoice(
            session,
            contract_id="c1",
            customer_id=ACME.id,
            currency="CHF",
            issue_date=date(2027, 3, 11),
            lines=[
                _line(date(2027, 4, 1), date(2028, 3, 1), "3300.00", LineKind.EARLY_TERMINATION)
            ],
            purpose=InvoicePurpose.CLOSING,
        )
    with database.session() as session:
        assert repository.get_plan(session, YEARLY.code) == YEARLY
        assert repository.get_contract(session, "c1").contract == committed
        assert repository.get_invoice(session, early.number) == early
        assert session.scalar(select(ContractRow.commitment_end)) == date(2028, 3, 1)
    for refused in (
        "UPDATE plans SET renewal = 'forever'",
        "UPDATE invoice_lines SET kind = 'other'",
        f"DELETE FROM invoices WHERE id = {early.id}",  # the rebuilt lines still point at it
    ):
        with pytest.raises(IntegrityError), database.engine.begin() as connection:
            connection.execute(text(refused))
    database.dispose()


def test_terms_downgrade_on_a_database_without_terms(database: Database) -> None:
    """Back to 0002 the rows stay, the terms' columns go; upgrading again reads them as before."""
    with database.session() as session:
        repository.add_location(session, GENEVA)
        repository.add_plan(session, HOT_DESK)
        repository.add_customer(session, ACME)
        repository.record_contract(session, contract())
        issued = repository.insert_invoice(
            session,
            contract_id="c1",
            customer_id=ACME.id,
            currency="CHF",
            issue_date=date(2027, 3, 1),
            lines=[_line(date(2027, 3, 1), date(2027, 4, 1), "300.00")],
        )
    _migrate(database, command.downgrade, "0002")
    assert _revision(database) == "0002"
    columns = inspect(database.engine)
    assert {"notice", "renewal", "max_freeze_cycles"}.isdisjoint(
        column["name"] for column in columns.get_columns("plans")
    )
    assert "commitment_end" not in {column["name"] for column in columns.get_columns("contracts")}
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT code FROM plans")).all() == [(HOT_DESK.code,)]
        assert connection.execute(text("SELECT id FROM contracts")).all() == [("c1",)]
        assert connection.execute(text("SELECT kind FROM invoice_lines")).all() == [("plan",)]
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        connection.execute(text("UPDATE invoice_lines SET kind = 'early_termination'"))
    database.migrate()
    with database.session() as session:
        assert repository.get_plan(session, HOT_DESK.code) == HOT_DESK
        assert repository.get_contract(session, "c1").contract == contract()
        assert repository.list_invoices(session, contract_id="c1") == [issued]


def test_terms_downgrade_is_refused_once_early_termination_was_billed(
    database: Database,
) -> None:
    """The schema before 0003 cannot hold an `early_termination` line: nothing is changed."""
    with database.session() as session:
        repository.add_location(session, GENEVA)
        repository.add_plan(session, HOT_DESK)
        repository.add_customer(session, ACME)
        repository.record_contract(session, contract())
        repository.insert_invoice(
            session,
            contract_id="c1",
            customer_id=ACME.id,
            currency="CHF",
            issue_date=date(2027, 3, 11),
            lines=[
                _line(date(2027, 3, 11), date(2027, 4, 1), "203.23", LineKind.EARLY_TERMINATION)
            ],
        )
    with pytest.raises(RuntimeError, match=r"Cannot downgrade from 0003: 1 invoice line"):
        _migrate(database, command.downgrade, "0002")
    assert _revision(database) == HEAD  # the downgrade is one transaction: all of it undone
    with database.session() as session:
        assert [line.kind for line in repository.list_invoices(session)[0].lines] == [
            LineKind.EARLY_TERMINATION
        ]


# --- Helpers -----------------------------------------------------------------------------------

YEARLY = Plan(
    code="yearly", name="Yearly Desk", location_id="geneva", price=Decimal("300.00"),
    terms=Terms(
        notice="30 days", minimum_term="12 months", renewal=Renewal.RENEW,
        max_freeze_cycles=2, max_freezes_per_year=1,
    ),
)  # fmt: skip


SNAPSHOT_BEFORE_TERMS = (
    '{"id":"c1","customer_id":"acme","location":{"id":"geneva","name":"Geneva",'
    '"timezone":"Europe/Zurich","currency":"CHF"},"plan":{"code":"hot-desk","name":"Hot Desk",'
    '"location_id":"geneva","price":"300.00","every":"1 month","deposit":"200.00",'
    '"prorate_first_invoice":false},"price":"300.00","start":"2027-03-01",'
    '"anchor":"2027-03-01","prorate_first_invoice":false,"replaces":null,"status":"inactive",'
    '"next_invoice_date":null,"billed_from":null,"billed_through":null,"cancellation":null,'
    '"scheduled_change":null,"end":null,"successor_id":null}'
)
"""`contract()` as 0002's code wrote it: no terms, no commitment end."""


def _migrate(database: Database, step: Callable[[Config, str], None], revision: str) -> None:
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)


def _at_revision(database_url: str, revision: str) -> Database:
    """A database migrated up to `revision` only."""
    database = Database(database_url)
    _migrate(database, command.upgrade, revision)
    return database


def _revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _store_before_terms(database: Database) -> tuple[IssuedInvoice, list[DepositMovement]]:
    """What a database before 0003 holds: GENEVA, HOT_DESK, ACME, their contract c1 (written
    as the columns and snapshot of that time), its first invoice and its deposit charge."""
    value = contract()
    with database.session() as session:
        repository.add_location(session, GENEVA)
        session.execute(insert(PlanRow).values(HOT_DESK.model_dump(exclude={"terms"})))
        repository.add_customer(session, ACME)
        session.execute(
            insert(ContractRow).values(
                id=value.id,
                customer_id=ACME.id,
                location_id=GENEVA.id,
                plan_code=HOT_DESK.code,
                price=value.price,
                start=value.start,
                anchor=value.anchor,
                prorate_first_invoice=value.prorate_first_invoice,
                status=value.status.value,
                next_invoice_date=value.next_invoice_date,
                cancel_at_next_invoice=False,
                snapshot=SNAPSHOT_BEFORE_TERMS,
            )
        )
        issued = repository.insert_invoice(
            session,
            contract_id="c1",
            customer_id=ACME.id,
            currency="CHF",
            issue_date=date(2027, 3, 1),
            lines=[_line(date(2027, 3, 1), date(2027, 3, 11), "96.77")],
        )
        repository.record_deposit_movement(
            session,
            customer_id=ACME.id,
            contract_id="c1",
            kind=DepositKind.CHARGE,
            amount=Decimal("200.00"),
            on_date=date(2027, 3, 1),
            invoice_id=issued.id,
        )
        movements = repository.deposit_movements(session, ACME.id)
    return issued, movements


def _line(start: date, end: date, amount: str, kind: LineKind = LineKind.PLAN) -> InvoiceLine:
    return InvoiceLine(
        kind=kind,
        period_start=start,
        period_end=end,
        amount=Decimal(amount),
        description="Hot Desk",
    )
