"""The migrations build exactly the schema the models describe, in code and from the CLI."""

import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from billing.contract import InvoiceLine, InvoicePurpose, LineKind
from store import repository
from store.db import Database, alembic_config
from store.models import Base
from store.records import DepositKind
from tests.store.conftest import ACME, GENEVA, HOT_DESK, contract

STORE = Path(__file__).resolve().parents[2] / "store"


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_removes_every_table(database: Database) -> None:
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
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
    database = Database(database_url)
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
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


def _line(start: date, end: date, amount: str) -> InvoiceLine:
    return InvoiceLine(
        kind=LineKind.PLAN,
        period_start=start,
        period_end=end,
        amount=Decimal(amount),
        description="Hot Desk",
    )
