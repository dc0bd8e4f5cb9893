"""The cron baseline of the month-end benchmark: the month-end's invoices written the way a cron
job would write them, one SQL batch in one transaction, into a copy of the billing database when it
is SQLite (rolled back when it is PostgreSQL). What the workflows' month-end is compared with for
scale, not a target.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from bench.harness import Results, console, rate
from billing.periods import period_containing
from store.db import Database
from store.models import InvoiceRow


def cron_phase(
    database: Database, tmp: Path, ids: list[str], month_end_day: date, price: Decimal, out: Results
) -> None:
    """The same invoices, the next cycle's, written by one batch in one transaction."""
    console.rule("[bold]Cron baseline")
    sqlite = database.url.get_backend_name() == "sqlite"
    target = database
    if sqlite:
        copy = tmp / "cron.db"
        assert database.url.database is not None
        with sqlite3.connect(database.url.database) as source, sqlite3.connect(copy) as dest:
            source.backup(dest)
        target = Database(f"sqlite:///{copy}")
    issue, period_end = period_containing(
        month_end_day + timedelta(days=40), anchor=month_end_day, every="1 month"
    )
    amount: Any = str(price) if sqlite else price
    with target.session() as session:
        first = int(session.execute(select(func.coalesce(func.max(InvoiceRow.id), 0))).scalar_one())
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    invoices = [
        {
            "id": first + 1 + i,
            "number": f"CRON-{issue:%Y%m}-{first + 1 + i:06d}",
            "contract_id": contract_id,
            "customer_id": f"{contract_id}-cust",
            "issue_date": issue,
            "currency": "EUR",
            "total": amount,
            "created_at": now if sqlite else datetime.now(UTC),
        }
        for i, contract_id in enumerate(ids)
    ]
    lines = [
        {
            "invoice_id": row["id"],
            "contract_id": row["contract_id"],
            "period_start": issue,
            "period_end": period_end,
            "amount": amount,
            "description": f"Hot desk {issue} to {period_end}",
        }
        for row in invoices
    ]
    started = time.perf_counter()
    connection = target.engine.connect()
    transaction = connection.begin()
    connection.execute(
        text(
            "INSERT INTO invoices (id, number, contract_id, customer_id, issue_date, purpose, "
            "currency, total, created_at) VALUES (:id, :number, :contract_id, :customer_id, "
            ":issue_date, 'period', :currency, :total, :created_at)"
        ),
        invoices,
    )
    connection.execute(
        text(
            "INSERT INTO invoice_lines (invoice_id, contract_id, kind, period_start, period_end, "
            "amount, description) VALUES (:invoice_id, :contract_id, 'plan', :period_start, "
            ":period_end, :amount, :description)"
        ),
        lines,
    )
    if sqlite:
        transaction.commit()
    else:
        transaction.rollback()  # not on a copy: measure, then leave the database as it was
        out.notes.append("Cron baseline on PostgreSQL: the batch was rolled back, not committed.")
    seconds = time.perf_counter() - started
    connection.close()
    if target is not database:
        target.dispose()
    out.numbers.update(
        cron_invoices=len(invoices),
        cron_seconds=round(seconds, 3),
        cron_invoices_per_second=rate(len(invoices), seconds),
    )
    console.print(
        f"  {len(invoices)} invoices + lines in {seconds:.2f} s ({rate(len(ids), seconds)}/s)"
    )
