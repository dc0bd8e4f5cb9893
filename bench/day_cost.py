"""What a contract's invoice date costs outside Temporal: the rules, the payloads, the transaction.

    python bench/day_cost.py [--contracts N] [--postgres] [--out DIR]

At month-end a contract's date is one workflow task whose local activity `record_day` writes the
invoice. `bench/month_end.py` compares that with a skeleton that makes the same Temporal commands
and writes one row into SQLite. What the contract does beyond the skeleton is measured here, on
the first invoice of N new members (the plan's price and its deposit), one after another with no
Temporal at all:

- the rules: `billing.lifecycle.advance`, as the workflow calls it;
- the payloads: the `record_day` request and its answer through the pydantic data converter, both
  ways, as the workflow and the activity exchange them;
- the transaction: `_record_day` in one session, as the activity runs it: wall time, the Python
  CPU it costs the worker, the statements it sends, and (PostgreSQL) the CPU of the database
  server's backend that answers them;
- the skeleton's write, for comparison: one `INSERT OR IGNORE` into a SQLite file, as the
  skeletons' activity does it.

The billing database is a fresh SQLite file, or with `--postgres` a fresh PostgreSQL database on
127.0.0.1:5432 (dropped at the end). Results: bench/results/day-cost-<timestamp>[-postgres].json
and .md.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import event  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402

from activities.contracts import _record_day  # noqa: E402
from bench.harness import (  # noqa: E402
    RESULTS,
    billing_database,
    console,
    drop_postgres_database,
    timestamp,
    write_results,
)
from billing import lifecycle  # noqa: E402
from billing.calendar import fixed_offset  # noqa: E402
from billing.contract import Contract, Customer, Location, Plan, new_contract  # noqa: E402
from store import repository  # noqa: E402
from store.db import Database  # noqa: E402
from workflows.requests import DayRecorded, RecordStep  # noqa: E402

START = date(2027, 1, 1)
"""The members' start (and anchor): the first invoice is the whole of January."""


def seed(database: Database, n: int) -> list[Contract]:
    """A location, a plan with a deposit, N customers and their contracts, recorded."""
    location = Location(id="bench", name="Bench", timezone=fixed_offset(0), currency="EUR")
    plan = Plan(
        code="desk", name="Hot desk", location_id="bench", price=Decimal(300), deposit=Decimal(200)
    )
    contracts = [
        new_contract(
            id=f"c{i:06d}",
            customer_id=f"m{i:06d}",
            location=location,
            plan=plan,
            start=START,
            anchor=START,
        )
        for i in range(n)
    ]
    with database.session() as session:
        repository.add_location(session, location)
        repository.add_plan(session, plan)
        for contract in contracts:
            repository.add_customer(
                session,
                Customer(
                    id=contract.customer_id,
                    name=f"Member {contract.customer_id}",
                    email=f"{contract.customer_id}@example.com",
                    location_id=location.id,
                ),
            )
        repository.record_contracts(session, contracts)
    return contracts


@contextmanager
def counting_statements(database: Database) -> Iterator[list[int]]:
    """A one-item list counting the statements the engine sends while the block runs."""
    count = [0]

    def counted(*_: Any) -> None:
        count[0] += 1

    event.listen(database.engine, "before_cursor_execute", counted)
    try:
        yield count
    finally:
        event.remove(database.engine, "before_cursor_execute", counted)


def backend_cpu_seconds(database: Database) -> tuple[int, float] | None:
    """(pid, CPU seconds) of the PostgreSQL backend behind the pool's one connection; None on
    SQLite or when its /proc entry is not readable (a server on another host)."""
    if database.url.get_backend_name() != "postgresql":
        return None
    with database.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        pid = raw.info.backend_pid
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return pid, (int(fields[11]) + int(fields[12])) / ticks


def measure(database: Database, contracts: list[Contract]) -> dict[str, float]:
    """Per first invoice (ms, and statements): rules, payloads, the transaction."""
    converter = pydantic_data_converter.payload_converter
    rules = payloads = wall = cpu = 0.0
    backend_before = backend_cpu_seconds(database)
    with counting_statements(database) as statements:
        for contract in contracts:
            t0 = time.perf_counter()
            step = lifecycle.advance(contract)
            request = RecordStep(step=step, key=f"contract-{contract.id}/{step.day}")
            t1 = time.perf_counter()
            received = converter.from_payloads(converter.to_payloads([request]), [RecordStep])[0]
            t2 = time.perf_counter()
            c2 = time.thread_time()
            with database.session() as session:
                recorded = _record_day(session, received)
            c3 = time.thread_time()
            t3 = time.perf_counter()
            converter.from_payloads(converter.to_payloads([recorded]), [DayRecorded])
            t4 = time.perf_counter()
            assert recorded.invoice is not None
            assert recorded.invoice.total == Decimal(500)
            rules += t1 - t0
            payloads += (t2 - t1) + (t4 - t3)
            wall += t3 - t2
            cpu += c3 - c2
    backend_after = backend_cpu_seconds(database)
    n = len(contracts)
    result = {
        "rules_ms": round(rules * 1000 / n, 3),
        "payloads_ms": round(payloads * 1000 / n, 3),
        "transaction_wall_ms": round(wall * 1000 / n, 3),
        "transaction_python_cpu_ms": round(cpu * 1000 / n, 3),
        "statements_per_invoice": round(statements[0] / n, 2),
    }
    if backend_before is not None and backend_after is not None:
        result["database_backend_cpu_ms"] = round(
            (backend_after[1] - backend_before[1]) * 1000 / n, 3
        )
    return result


def skeleton_write(folder: Path, n: int) -> dict[str, float]:
    """Per row: the skeletons' activity's write (a connection, one INSERT, a commit)."""
    path = folder / "skeleton.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE rows (workflow_id TEXT PRIMARY KEY, inserted_at TEXT)")
    wall = cpu = 0.0
    for i in range(n):
        t0, c0 = time.perf_counter(), time.thread_time()
        connection = sqlite3.connect(path, timeout=30)
        try:
            with connection:
                connection.execute(
                    "INSERT OR IGNORE INTO rows (workflow_id, inserted_at) VALUES (?, ?)",
                    (f"s{i}", datetime.now(UTC).isoformat()),
                )
        finally:
            connection.close()
        wall += time.perf_counter() - t0
        cpu += time.thread_time() - c0
    return {"wall_ms": round(wall * 1000 / n, 3), "python_cpu_ms": round(cpu * 1000 / n, 3)}


def markdown(numbers: dict[str, Any]) -> str:
    day = numbers["first_invoice"]
    rows = [
        ("rules (`lifecycle.advance`)", day["rules_ms"], "ms"),
        ("payloads (request and answer, both ways)", day["payloads_ms"], "ms"),
        ("transaction: wall", day["transaction_wall_ms"], "ms"),
        ("transaction: Python CPU (the worker's)", day["transaction_python_cpu_ms"], "ms"),
        ("transaction: statements sent", day["statements_per_invoice"], ""),
    ]
    if "database_backend_cpu_ms" in day:
        rows.append(("transaction: database server CPU", day["database_backend_cpu_ms"], "ms"))
    skeleton = numbers["skeleton_write"]
    rows += [
        ("skeleton's write: wall", skeleton["wall_ms"], "ms"),
        ("skeleton's write: Python CPU", skeleton["python_cpu_ms"], "ms"),
    ]
    lines = [
        f"Day cost, {numbers['started_at']}: {numbers['contracts']} first invoices, billing "
        f"database {numbers['billing_database']} ({numbers['billing_database_where']}), "
        f"{numbers['cpus']} CPUs",
        "",
        "| per first invoice | value | unit |",
        "|---|---:|---|",
        *(f"| {name} | {value} | {unit} |" for name, value, unit in rows),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=int, default=2000, help="first invoices to write")
    parser.add_argument(
        "--postgres", action="store_true", help="a fresh PostgreSQL billing database"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    args = parser.parse_args(argv)
    if args.contracts < 1:
        parser.error("--contracts must be at least 1")
    run = timestamp()
    with tempfile.TemporaryDirectory(prefix="termshift-day-cost-") as tmp:
        where = billing_database(args.postgres, Path(tmp), run.lower())
        database = Database(where.url)
        try:
            database.migrate()
            console.print(f"Seeding {args.contracts} contracts ({where.where}) …")
            contracts = seed(database, args.contracts)
            console.print("Writing their first invoices …")
            first_invoice = measure(database, contracts)
            skeleton = skeleton_write(Path(tmp), args.contracts)
        finally:
            database.dispose()
            if where.postgres is not None:
                drop_postgres_database(where.postgres)
    numbers = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "contracts": args.contracts,
        "cpus": os.cpu_count(),
        "billing_database": database.url.get_backend_name(),
        "billing_database_where": where.where,
        "first_invoice": first_invoice,
        "skeleton_write": skeleton,
    }
    table = Table(title="One first invoice, outside Temporal")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for line in markdown(numbers).splitlines()[4:]:
        name, value, unit = (cell.strip() for cell in line.strip("|").split("|"))
        table.add_row(name, f"{value} {unit}".strip())
    console.print(table)
    names = [f"day-cost-{run}" + ("-postgres" if args.postgres else "")]
    path = write_results(args.out, names, numbers, markdown(numbers))
    console.print(f"Results: {path} (and .md)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
