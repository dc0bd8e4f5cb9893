"""A production-shaped rig for fault injection: the real dev server persisting to a SQLite file,
the real worker process (`python worker.py`), and the billing database (SQLite file or PostgreSQL).

Each part can be killed and started again while contracts run; `expected_invoices` is the oracle
the pure billing core gives for what must exist afterwards.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client

from billing import lifecycle
from billing.calendar import fixed_offset
from billing.contract import Command, Contract, Customer, Location, Plan
from store import repository
from store.db import Database
from termshift.services import catalog
from termshift.stack import DevServer, Options
from tests.support.clock import Clock, dev_server_now
from tests.support.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
ADMIN = Command(actor="fault-suite", reason="fault injection")
DESK = "DESK"
OFFICE = "OFFICE"


def noon_zone(now: datetime | None = None) -> str:
    """An `Etc/GMT±N` zone where it is about noon on the dev server's clock now (or at `now`):
    no local midnight during a short test."""
    hour = (now or dev_server_now()).hour
    east = 12 - hour  # hours east of UTC; Etc/GMT-N is N hours east
    return "Etc/GMT" if east == 0 else f"Etc/GMT{-east:+d}"


def noon_clock() -> Clock:
    """The dev server's clock in a `noon_zone`: its `today` stays the same during a short test."""
    now = dev_server_now()
    return Clock(now, noon_zone(now))


@dataclass(frozen=True)
class Midnight:
    """A local 00:00 a few seconds ahead, in a fixed-offset zone."""

    timezone: str
    day: date
    instant: datetime


def midnight_ahead(lead: timedelta) -> Midnight:
    """A fixed-offset zone (`UTC+hh:mm:ss`) whose next local midnight is `lead` from now on the
    dev server's clock."""
    instant = (dev_server_now() + lead).replace(microsecond=0)
    day = instant.date() + timedelta(days=1)
    offset = int((datetime.combine(day, time(0), tzinfo=UTC) - instant).total_seconds())
    if offset > 12 * 3600:  # keep the offset within ±12 h: the same instant, the day before
        day -= timedelta(days=1)
        offset -= 86400
    return Midnight(timezone=fixed_offset(offset), day=day, instant=instant)


def expected_invoices(contract: Contract, through: date) -> tuple[Contract, list[tuple[date, str]]]:
    """What the pure billing core says a contract is, and which invoices (issue date, purpose)
    exist, once every event up to and including `through` has happened."""
    issued: list[tuple[date, str]] = []
    while (day := lifecycle.next_event_date(contract)) is not None and day <= through:
        step = lifecycle.advance(contract)
        if step.invoice is not None:
            issued.append((step.day, step.invoice.purpose.value))
        contract = step.contract
    return contract, issued


@dataclass
class Rig:
    tmp: Path
    database_url: str
    database: Database
    server: DevServer
    client: Client
    queue: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # -- the worker -----------------------------------------------------------------------

    def worker_env(self, extra: Mapping[str, str] = {}) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TEMPORAL_", "TERMSHIFT_"))
        }
        env.update(
            TEMPORAL_ADDRESS=self.server.address,
            TEMPORAL_NAMESPACE="default",
            TERMSHIFT_DATABASE_URL=self.database_url,
            TERMSHIFT_TASK_QUEUE=self.queue,
            TERMSHIFT_DATA_DIR=str(self.tmp),
        )
        env.update(extra)
        return env

    def start_worker(
        self, script: str = "worker.py", extra_env: Mapping[str, str] = {}
    ) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"worker-{len(self.workers) + 1}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, script],
            cwd=ROOT,
            env=self.worker_env(extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(process)
        return process

    def kill_worker(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight work lost mid-way."""
        process = self.workers[-1]
        process.kill()
        process.wait(timeout=30)

    def worker_logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.tmp.glob("worker-*.log"))
        )

    # -- the server -----------------------------------------------------------------------

    async def kill_server(self) -> None:
        process = self.server.process
        assert process is not None
        process.kill()
        await process.wait()

    async def start_server(self) -> None:
        await self.server.start()
        client = await self.server.wait_ready(asyncio.Event())
        assert client is not None
        self.client = client

    # -- the catalog and contracts --------------------------------------------------------

    def location(self, timezone: str) -> Location:
        location = Location(
            id=f"loc-{uuid.uuid4().hex[:6]}", name="Fault", timezone=timezone, currency="EUR"
        )
        catalog.add_location(self.database, location, ADMIN)
        for code, price in ((DESK, "300.00"), (OFFICE, "900.00")):
            plan = Plan(
                code=f"{code}-{location.id}",
                name=code.title(),
                location_id=location.id,
                price=Decimal(price),
                deposit=Decimal("100.00"),
            )
            catalog.add_plan(self.database, plan, ADMIN)
        return location

    def plan(self, code: str, location: Location) -> Plan:
        with self.database.session() as session:
            return repository.get_plan(session, f"{code}-{location.id}")

    def customer(self, location: Location, index: int) -> str:
        customer = Customer(
            id=f"cu-{location.id}-{index}",
            name=f"Member {index}",
            email=f"member{index}@example.com",
            location_id=location.id,
        )
        catalog.add_customer(self.database, customer, ADMIN)
        return customer.id

    def invoices(self) -> list[tuple[str, date, str]]:
        """Every invoice in the billing database: (contract, issue date, purpose)."""
        with self.database.session() as session:
            return [
                (invoice.contract_id, invoice.issue_date, invoice.purpose.value)
                for invoice in repository.list_invoices(session)
            ]

    def stored(self, contract_id: str) -> Contract:
        with self.database.session() as session:
            return repository.get_contract(session, contract_id).contract


@asynccontextmanager
async def rig(tmp: Path, database_url: str) -> AsyncIterator[Rig]:
    """Dev server on a SQLite file in `tmp`, the billing database migrated; no worker yet."""
    options = Options(data_dir=tmp, port=free_port(), ui_port=free_port(), worker=False)
    server = DevServer(options)
    await server.start()
    database = Database(database_url)
    database.migrate()
    the_rig: Rig | None = None
    try:
        client = await server.wait_ready(asyncio.Event())
        assert client is not None
        the_rig = Rig(
            tmp=tmp,
            database_url=database_url,
            database=database,
            server=server,
            client=client,
            queue=f"faults-{uuid.uuid4().hex[:8]}",
        )
        yield the_rig
    finally:
        if the_rig is not None:
            for process in the_rig.workers:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
            for process in the_rig.workers:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        await server.stop()
        database.dispose()


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], *, timeout: float, what: str
) -> None:
    """Poll `check` until it holds; fail with `what` after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        outcome = check()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.25)
