"""Month-end benchmark: N contracts invoicing at the same local 00:00, against the engine's floors.

    python bench/month_end.py [--contracts N] [--renewal] [--in-memory | --address HOST:PORT]
                              [--postgres] [--out DIR] [--margin S] [--zone-wait S] [--keep]

1. A Temporal dev server of its own (SQLite file in a temp dir, search attributes registered), or
   `--in-memory`, or an existing cluster (`--address`). Billing DB: TERMSHIFT_DATABASE_URL, or with
   `--postgres` a fresh PostgreSQL database `termshift_bench_<run>` on 127.0.0.1:5432 (dropped at
   the end), else a temp SQLite file. Two workers run as subprocesses: `python worker.py`
   (Termshift, as in production) and `python bench/skeleton.py` (both skeletons).
2. Two floors (`bench/floors.py`), N workflows each, started (starts/s) and firing at one instant
   (firings/s): the bare skeleton (a timer, then one activity inserting a row), and the
   same-commands skeleton, whose date makes the Temporal commands a contract's date makes, with
   none of Termshift's billing. Each runs before the contracts and again after them, on the same
   server; the contracts are compared with the mean of the two rounds. Before each timed phase
   the benchmark waits until the server and the workers are idle.
3. Termshift: a pilot creates a few contracts one by one (`contracts create`) and imports as many
   (`contracts import`); the import rate sets how far ahead the month-end instant must be. Then N
   contracts are imported in one location whose next local 00:00 is that instant, all starting
   that day → contracts/s onboarding; at 00:00 each workflow writes its first invoice → seconds
   until every invoice is in the billing database → invoices/s. With `--renewal` they start one
   period earlier (onboarding also writes their first invoices), and the month-end is an
   ordinary renewal; the same-commands skeletons then also have a date before the one timed.
4. Cron baseline (`bench/cron_baseline.py`): the same N invoices written by one SQL batch.
5. Peak RSS of the workers and the server, history events per billing cycle (of a contract and
   of a same-commands skeleton, which should match), and the CPU time of each phase per item, of
   the server and of each worker, by kind of thread.

Results (`bench/month_end_report.py`): bench/results/<timestamp>-n<N>.json and .md, and
latest.json / latest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from temporalio.client import Client  # noqa: E402

from bench import floors  # noqa: E402
from bench.cron_baseline import cron_phase  # noqa: E402
from bench.floors import floor_means, floor_phase  # noqa: E402
from bench.harness import (  # noqa: E402
    CONCURRENCY,
    RESULTS,
    BillingDatabase,
    CpuMeter,
    Results,
    billing_database,
    console,
    cycle_of,
    drop_postgres_database,
    poll_until,
    progress,
    rate,
    run_limited,
    start_server,
    start_worker,
    stop_process,
    wait_until,
)
from bench.month_end_instant import MAX_ZONE_WAIT, MonthEnd, choose_month_end  # noqa: E402
from bench.month_end_report import (  # noqa: E402
    add_ratios,
    print_table,
    record_memory_and_settings,
    save,
)
from bench.skeleton import create_table  # noqa: E402
from bench.webhook_phase import add_bench_endpoint, delivery_phase, receiving  # noqa: E402
from billing.calendar import local_date  # noqa: E402
from billing.contract import Command, Contract, Customer, Location, Plan, new_contract  # noqa: E402
from billing.periods import period_containing  # noqa: E402
from store import repository  # noqa: E402
from store.db import Database  # noqa: E402
from store.models import ContractRow, InvoiceRow  # noqa: E402
from termshift.services.contracts import create_contract, start_recorded  # noqa: E402
from termshift.services.imports import register_contracts  # noqa: E402
from termshift.services.webhooks import new_secret  # noqa: E402
from termshift.temporal import connect  # noqa: E402
from workflows import workflow_id  # noqa: E402

MAX_CONTRACTS = 10_000
MARGIN = 20.0
"""Seconds of margin before the month-end instant, beyond what onboarding is expected to take."""
PRICE = Decimal("1500.00")
REQUESTED = Command(actor="bench", reason="month-end benchmark")


# ------------------------------------------------------------------------------------------------
# Phases


@dataclass
class Site:
    location: Location
    plan: Plan


def add_site(database: Database, location: Location, customers: list[str]) -> Site:
    plan = Plan(
        code=f"{location.id}-desk",
        name="Hot desk",
        location_id=location.id,
        price=PRICE,
        deposit=Decimal(200),
    )
    with database.session() as session:
        repository.add_location(session, location)
        repository.add_plan(session, plan)
        for customer_id in customers:
            repository.add_customer(
                session,
                Customer(
                    id=customer_id,
                    name=f"Customer {customer_id}",
                    email=f"{customer_id}@example.com",
                    location_id=location.id,
                ),
            )
    return Site(location, plan)


def contracts_of(site: Site, ids: list[str], starts: tuple[date, date]) -> list[Contract]:
    start, anchor = starts
    return [
        new_contract(
            id=contract_id,
            customer_id=f"{contract_id}-cust",
            location=site.location,
            plan=site.plan,
            start=start,
            anchor=anchor,
        )
        for contract_id in ids
    ]


async def create_one_by_one(
    client: Client, contracts: list[Contract], queue: str, label: str
) -> float:
    """As `contracts create` does, 50 at a time: each returns once its row is written."""

    async def create(i: int) -> None:
        await create_contract(client, contracts[i], REQUESTED, task_queue=queue, timeout=300)

    return await run_limited(label, len(contracts), create)


async def import_all(
    client: Client, database: Database, contracts: list[Contract], queue: str, label: str
) -> float:
    """As `contracts import` does: every row in one transaction, then every workflow started."""
    started = time.perf_counter()
    await asyncio.to_thread(register_contracts, database, contracts, REQUESTED, key=workflow_id)
    with progress() as bar:
        task = bar.add_task(label, total=len(contracts))
        await start_recorded(
            client,
            contracts,
            REQUESTED,
            task_queue=queue,
            concurrency=CONCURRENCY,
            started=lambda: bar.advance(task),
        )
    return time.perf_counter() - started


async def contracts_phase(
    client: Client,
    database: Database,
    n: int,
    queue: str,
    run: str,
    cpu: CpuMeter,
    out: Results,
    renewal: bool = False,
    margin: float = MARGIN,
    max_zone_wait: float = MAX_ZONE_WAIT,
    webhooks: bool = True,
) -> tuple[str, MonthEnd]:
    console.rule("[bold]Termshift contracts")
    # Pilot, in a UTC location (start today, next invoice a month away): a few contracts created
    # one by one (`contracts create`), as many imported (`contracts import`); the import rate
    # decides how far ahead the month-end instant must be.
    pilot_n = max(10, min(100, n // 10))
    pilot_ids = [f"p{run}-{i:05d}" for i in range(2 * pilot_n)]
    pilot = await asyncio.to_thread(
        add_site,
        database,
        Location(id=f"pilot-{run}", name="Pilot", timezone="UTC", currency="EUR"),
        [f"{i}-cust" for i in pilot_ids],
    )
    today = local_date(datetime.now(UTC), "UTC")
    pilot_contracts = contracts_of(pilot, pilot_ids, (today, today))
    await cpu.settle("after the skeletons")
    before = cpu.read()
    created_seconds = await create_one_by_one(
        client, pilot_contracts[:pilot_n], queue, "pilot: contracts create"
    )
    cpu.record("contracts create (pilot)", before, pilot_n, "server", "worker")
    pilot_seconds = await import_all(
        client, database, pilot_contracts[pilot_n:], queue, "pilot: contracts import"
    )
    pilot_rate = pilot_n / pilot_seconds
    await cpu.settle("after the pilot")
    lead = margin + 1.5 * n / pilot_rate + n / 500  # onboarding with margin, the customer rows
    if renewal:
        lead += 1.5 * margin + n / 40  # and the first invoices, written as the contracts start
    month_end = choose_month_end(lead, max_zone_wait)
    wait = (month_end.instant - datetime.now(UTC)).total_seconds()
    kind = "a fixed-offset zone" if month_end.custom_zone else "an Etc/GMT zone"
    console.print(
        f"  pilot: {pilot_n} created one by one at {rate(pilot_n, created_seconds)}/s, "
        f"{pilot_n} imported at {pilot_rate:.1f}/s → month-end is 00:00 "
        f"{month_end.day} in {month_end.timezone} ({kind}) = {month_end.instant:%H:%M:%S} UTC, "
        f"in {wait:.0f} s"
    )

    ids = [f"b{run}-{i:05d}" for i in range(n)]
    site = await asyncio.to_thread(
        add_site,
        database,
        Location(id=f"bench-{run}", name="Bench", timezone=month_end.timezone, currency="EUR"),
        [f"{i}-cust" for i in ids],
    )
    # New members all starting on the month-end day: onboarding is the contract's row and its
    # workflow only, and at 00:00 each workflow writes its first invoice (the plan's price and
    # the deposit) and goes to sleep until the next month.
    first = month_end.day
    if renewal:  # the start of the period before: its invoice is written at once
        first, _ = period_containing(
            month_end.day - timedelta(days=1), anchor=month_end.day, every=site.plan.every
        )
    contracts = contracts_of(site, ids, (first, month_end.day))
    before = cpu.read()
    seconds = await import_all(client, database, contracts, queue, "onboarding")
    cpu.record("onboarding", before, n, "server", "worker")
    if datetime.now(UTC) >= month_end.instant:
        out.notes.append("Onboarding overran the month-end instant: month-end numbers are low.")
    console.print(f"  {n} contracts onboarded in {seconds:.1f} s ({rate(n, seconds)}/s)")
    out.numbers.update(
        pilot_contracts=2 * pilot_n,
        pilot_imported_per_second=round(pilot_rate, 1),
        create_contracts=pilot_n,
        create_contracts_per_second=rate(pilot_n, created_seconds),
        onboarding_seconds=round(seconds, 2),
        onboarding_contracts_per_second=rate(n, seconds),
        month_end_timezone=month_end.timezone,
        month_end_custom_zone=month_end.custom_zone,
        month_end_local_day=month_end.day.isoformat(),
        month_end_instant_utc=month_end.instant.isoformat(),
    )
    if renewal:  # until the first invoices are written, but never past the instant
        left = (month_end.instant - datetime.now(UTC)).total_seconds() - 2
        await cpu.settle("after the first invoices", timeout=max(0.0, left))
        if datetime.now(UTC) >= month_end.instant - timedelta(seconds=2):
            out.notes.append("First invoices still running at the month-end instant: numbers low.")
    with contextlib.ExitStack() as stack:
        receiver = None
        if webhooks:  # every event from now on, pushed to a receiver on 127.0.0.1
            secret = new_secret()
            receiver = stack.enter_context(receiving(secret))
            after = await add_bench_endpoint(
                client, database, receiver.url, secret, f"{queue}-webhooks"
            )
        await wait_until(month_end.instant, f"00:00 {month_end.day} in {month_end.timezone}")
        await invoices_phase(database, site, month_end, n, cpu, out)
        if receiver is not None:
            before = cpu.read()
            await delivery_phase(database, receiver, after, month_end.instant, out)
            cpu.record("webhooks, after the last invoice", before, n, "server", "worker")
    return ids[0], month_end


async def invoices_phase(
    database: Database, site: Site, month_end: MonthEnd, n: int, cpu: CpuMeter, out: Results
) -> None:
    """Every first invoice of the month-end in the billing database: how long after 00:00."""
    before = cpu.read()

    def invoices(column: Any) -> Any:
        return (
            select(column)
            .select_from(InvoiceRow)
            .join(ContractRow, ContractRow.id == InvoiceRow.contract_id)
            .where(ContractRow.location_id == site.location.id)
            .where(InvoiceRow.issue_date == month_end.day)
        )

    def count() -> int:
        with database.session() as session:
            return int(session.execute(invoices(func.count())).scalar_one())

    done, _ = await poll_until("month-end invoices", n, count, timeout=max(300.0, n / 2))
    cpu.record("month-end", before, done, "server", "worker")
    with database.session() as session:
        last = session.execute(invoices(func.max(InvoiceRow.created_at))).scalar_one()
    span = (last - month_end.instant).total_seconds() if last is not None else None
    out.numbers.update(
        month_end_invoices=done,
        month_end_seconds=round(span, 2) if span is not None else None,
        month_end_invoices_per_second=rate(done, span),
    )
    console.print(
        f"  {done} invoices in the billing database {span:.1f} s after the instant "
        f"({rate(done, span)}/s)"
    )


async def history_phase(client: Client, contract_id: str, same_id: str, out: Results) -> None:
    """Events per billing cycle of a contract (its month-end date), and of a same-commands
    skeleton (its timed date), which should be the same events."""
    contract = await cycle_of(client, workflow_id(contract_id), out)
    if contract is not None:
        total, cycle = contract
        out.numbers.update(
            history_events_total=total,
            history_events_per_cycle=len(cycle),
            history_cycle=[name.partition("(")[0] for name in cycle],
        )
        console.print(f"  history events per billing cycle (the month-end one): {len(cycle)}")
    same = await cycle_of(client, same_id, out)
    if same is not None:
        out.numbers.update(
            same_commands_history_events_per_cycle=len(same[1]), same_commands_history_cycle=same[1]
        )
    if contract is not None and same is not None:
        matches = contract[1] == same[1]
        out.numbers["same_commands_history_matches"] = matches
        if not matches:
            out.notes.append(
                "A same-commands skeleton's cycle differs from the contract's: "
                f"{same[1]} against {contract[1]} (a task the server timed out on a busy "
                "worker's sticky queue and scheduled again adds 2 events)."
            )


# ------------------------------------------------------------------------------------------------
# Main


async def bench(args: argparse.Namespace) -> int:
    n = args.contracts
    run = uuid.uuid4().hex[:6]
    tmp = Path(tempfile.mkdtemp(prefix="termshift-bench-"))
    if args.address:
        mode = "existing cluster"
    else:
        mode = "dev server, in memory" if args.in_memory else "dev server, SQLite file"
    out = Results()
    out.numbers.update(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        contracts=n,
        mode=mode,
        cpu_count=os.cpu_count(),
        python=sys.version.split()[0],
    )
    server: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = {}
    database: Database | None = None
    billing: BillingDatabase | None = None
    try:
        if args.address:
            address = args.address
            client = await connect(address=address, namespace="default")
        else:
            console.print(f"Starting the Temporal dev server ({mode}) in {tmp}…")
            server, address, client = await start_server(tmp, args.in_memory)
        billing = await asyncio.to_thread(billing_database, args.postgres, tmp, run)
        database = Database(billing.url)
        await asyncio.to_thread(database.migrate)
        out.numbers["billing_database"] = database.url.get_backend_name()
        out.numbers["billing_database_where"] = billing.where
        out.numbers["skeleton_database"] = "sqlite (a file in the temp dir)"
        console.print(
            f"Billing database: {database.url.get_backend_name()}, {billing.where}; "
            "the skeletons' rows: SQLite"
        )
        skeleton_db = str(tmp / "skeleton.db")
        create_table(skeleton_db)

        queue = f"bench-{run}"
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": "default",
            "TERMSHIFT_DATABASE_URL": billing.url,
            "TERMSHIFT_TASK_QUEUE": f"{queue}-contracts",
            "TERMSHIFT_WEBHOOK_TASK_QUEUE": f"{queue}-contracts-webhooks",
        }
        workers["termshift"] = start_worker([sys.executable, "worker.py"], env, tmp / "worker.log")
        workers["skeleton"] = start_worker(
            [
                sys.executable,
                "bench/skeleton.py",
                "--address",
                address,
                "--task-queue",
                f"{queue}-skeleton",
                "--db",
                skeleton_db,
            ],
            env,
            tmp / "skeleton-worker.log",
        )

        pids = {name: process.pid for name, process in workers.items()}
        cpu = CpuMeter(
            {"worker": pids["termshift"], "skeleton_worker": pids["skeleton"]}
            | ({"server": server.pid} if server is not None else {}),
            split=("worker", "skeleton_worker"),
        )

        async def floor(name: str, when: str) -> str:
            return await floor_phase(
                client,
                name,
                n,
                f"{queue}-skeleton",
                skeleton_db,
                cpu,
                out,
                when,
                margin=args.margin,
                renewal=args.renewal,
            )

        await floor("skeleton", "before")
        same_id = await floor("same_commands", "before")
        first_id, month_end = await contracts_phase(
            client,
            database,
            n,
            f"{queue}-contracts",
            run,
            cpu,
            out,
            args.renewal,
            margin=MARGIN if args.margin is None else args.margin,
            max_zone_wait=args.zone_wait,
            webhooks=not args.no_webhooks,
        )
        await cpu.settle("after month-end")
        await floor("same_commands", "after")
        await floor("skeleton", "after")
        floor_means(out.numbers)
        out.numbers["cpu_ms_per_item"] = cpu.per_item
        await history_phase(client, first_id, same_id, out)
        ids = [f"b{run}-{i:05d}" for i in range(n)]
        await asyncio.to_thread(cron_phase, database, tmp, ids, month_end.day, PRICE, out)

        for name, process in workers.items():
            if process.poll() is not None:
                out.notes.append(f"The {name} worker exited early (code {process.returncode}).")
        record_memory_and_settings(
            out,
            {
                "worker": workers["termshift"].pid,
                "skeleton_worker": workers["skeleton"].pid,
                "server": server.pid if server is not None else None,
            },
            sleeping=n + out.numbers.get("pilot_contracts", 0),
        )
        out.notes.append(
            f"Billing database: {out.numbers['billing_database']}, {billing.where}. The "
            "skeletons write their rows into a SQLite file, whatever the billing database."
        )
        numbers = out.numbers
        numbers["month_end_kind"] = "renewal" if args.renewal else "first invoice"
        if args.renewal:
            out.notes.append(
                "--renewal: the contracts started one period before the month-end day; their "
                "onboarding also wrote their first invoices (not compared with the skeletons), "
                "and the month-end is their second date, an ordinary renewal. The same-commands "
                "skeletons likewise had a date before the one timed."
            )
        add_ratios(numbers, args.renewal)
        numbers["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        print_table(numbers)
        for note in out.notes:
            console.print(f"[yellow]note:[/] {note}")
        path = save(args.out, numbers, out.notes)
        latest = "latest-renewal" if args.renewal else "latest"
        console.print(f"Results: {path} (and {args.out / latest}.json, {latest}.md)")
        return 0
    finally:
        for process in workers.values():
            stop_process(process)
        stop_process(server)
        if database is not None:
            database.dispose()
        if billing is not None and billing.postgres is not None:
            if args.keep:
                console.print(f"Kept the PostgreSQL database {billing.postgres}")
            else:
                drop_postgres_database(billing.postgres)
        if args.keep:
            console.print(f"Kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def contracts_count(text_value: str) -> int:
    value = int(text_value)
    if not 1 <= value <= MAX_CONTRACTS:
        raise argparse.ArgumentTypeError(f"between 1 and {MAX_CONTRACTS}, not {value}")
    return value


def seconds(text_value: str) -> float:
    value = float(text_value)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seconds, at least 0, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=contracts_count, default=2000)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--in-memory", action="store_true", help="dev server without a SQLite file")
    where.add_argument("--address", help="an existing Temporal cluster (namespace default)")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="billing database: a fresh PostgreSQL database termshift_bench_<run> on "
        "127.0.0.1:5432 (trust auth, user postgres or root), dropped at the end",
    )
    parser.add_argument(
        "--renewal",
        action="store_true",
        help="month-end as an ordinary renewal: contracts start a period earlier",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    parser.add_argument(
        "--margin",
        type=seconds,
        help="seconds of margin before each timed instant, beyond what N needs "
        f"(default {floors.MARGIN:g} for the skeletons, {MARGIN:g} for the month-end)",
    )
    parser.add_argument(
        "--zone-wait",
        type=seconds,
        default=MAX_ZONE_WAIT,
        help="at most this many seconds more to wait for an Etc/GMT zone's midnight rather than "
        f"a fixed-offset zone's (default {MAX_ZONE_WAIT:g})",
    )
    parser.add_argument(
        "--no-webhooks",
        action="store_true",
        help="no webhook endpoint: the month-end's events are not pushed to a receiver",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    args = parser.parse_args(argv)
    if args.postgres and os.environ.get("TERMSHIFT_DATABASE_URL"):
        parser.error("--postgres creates its own database: unset TERMSHIFT_DATABASE_URL")
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(bench(args))
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
