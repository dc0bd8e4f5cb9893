"""What bench/bulk.py measures with: the machine's and its processes' CPU and memory, each
phase's span, and the billing database's view of a phase — the changes made, the job's answers,
its pages, the prices stored — and one contract's history."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from temporalio.client import Client

from activities.contracts import REFUSED
from bench.harness import ROOT, CpuMeter, console, event_name, peak_rss_mb, progress, stop_process
from store.db import Database
from store.models import AuditRow, BulkItemRow, BulkJobRow, ContractRow
from workflows import workflow_id

COMMAND = "set_price"
POLL_SECONDS = 1.0
"""How often the benchmark counts the changes (the times come from the rows, not the polls)."""
STALL_SECONDS = 180.0
"""A phase whose count has not moved for this long is given up, and says so."""


# ------------------------------------------------------------------------------------------------
# What the machine spends


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy (every CPU, every process) since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reset_peak_rss(pid: int | None) -> bool:
    """Reset a process's VmHWM to its current RSS (`clear_refs` 5, Linux ≥ 4.0)."""
    if pid is None:
        return False
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Child:
    returncode: int
    cpu_seconds: float
    seconds: float


async def run_child(
    command: list[str], env: dict[str, str], stdout: Path, stderr: Path, timeout: float
) -> Child:
    """Run a command to its end (killed after `timeout` s); its exit code, CPU and wall time."""
    started = time.perf_counter()
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
    try:
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout:
                process.kill()
            await asyncio.sleep(0.05)
    except asyncio.CancelledError:
        process.kill()
        os.waitpid(process.pid, 0)
        process.returncode = -signal.SIGKILL
        raise
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, with its rusage
    return Child(
        returncode=process.returncode,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        seconds=time.perf_counter() - started,
    )


@dataclass
class Stack:
    client: Client
    address: str
    database: Database
    env: dict[str, str]
    tmp: Path
    cpu: CpuMeter
    pids: dict[str, int]
    """`worker`, and `server` unless the cluster is someone else's."""
    plan: str
    contract_ids: list[str]
    profile: Path | None = None
    peaks: dict[str, dict[str, float | None]] = field(default_factory=dict)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Phase:
    name: str
    started_at: datetime
    perf: float
    cpu: dict[str, float]
    machine: float
    own: float
    profiler: subprocess.Popen[bytes] | None


async def begin(stack: Stack, name: str, *, settle: bool = True) -> Phase:
    """Wait for the server and the worker to go idle, reset their peak RSS, read the clocks."""
    if settle:
        await stack.cpu.settle(f"before {name}", timeout=180.0)
    for pid in stack.pids.values():
        reset_peak_rss(pid)
    profiler = None
    if stack.profile is not None:
        profiler = start_profiler(stack.pids["worker"], stack.profile / f"worker-{slug(name)}.txt")
    return Phase(
        name=name,
        started_at=datetime.now(UTC),
        perf=time.perf_counter(),
        cpu=stack.cpu.read(),
        machine=machine_busy_seconds(),
        own=own_cpu_seconds(),
        profiler=profiler,
    )


def end(stack: Stack, phase: Phase, items: int, child_cpu: float = 0.0) -> dict[str, Any]:
    """What the phase spent: CPU seconds by process (and the worker's by thread), the command
    line's, this benchmark's and the rest of the machine's; each process's peak RSS."""
    seconds = time.perf_counter() - phase.perf
    if phase.profiler is not None:
        phase.profiler.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            phase.profiler.wait(60)
        stop_process(phase.profiler)
    after = stack.cpu.read()
    stack.cpu.record(phase.name, phase.cpu, items, "server", "worker")
    spent = {key: round(after[key] - phase.cpu.get(key, 0.0), 2) for key in after}
    own = own_cpu_seconds() - phase.own
    machine = machine_busy_seconds() - phase.machine
    ours = sum(spent[name] for name in stack.pids) + child_cpu + own
    spent.update(
        cli=round(child_cpu, 2),
        bench=round(own, 2),
        machine=round(machine, 2),
        other_processes=round(max(machine - ours, 0.0), 2),
    )
    peaks = {name: (peak_rss_mb(pid) or {}).get("VmHWM") for name, pid in stack.pids.items()}
    stack.peaks[phase.name] = peaks
    record = {
        "seconds": round(seconds, 2),
        "cpu_seconds": spent,
        "cpu_capacity_seconds": round(seconds * (os.cpu_count() or 1), 1),
        "peak_rss_mb": peaks,
    }
    stack.phases[phase.name] = record
    return record


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the worker (collapsed stacks, by thread) until the phase ends."""
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.is_file():
        console.print("[yellow]py-spy is not installed: no profile[/]")
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [str(spy), "record", "-p", str(pid), "--format", "raw", "--threads"]
    command += ["--nonblocking", "-r", "50", "-o", str(out)]
    log = out.with_suffix(".log").open("wb")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


# ------------------------------------------------------------------------------------------------
# Counting the changes in the billing database


@dataclass
class Changes:
    applied: int
    refused: int
    last_at: datetime | None

    @property
    def answered(self) -> int:
        return self.applied + self.refused


def changes(database: Database, plan: str, job: str | None) -> Changes:
    """`set_price` audit entries of the plan's contracts, sent by the job (None: by no job)."""
    refused = AuditRow.effect.like(f"{REFUSED}%")
    query = (
        select(func.count(), func.max(AuditRow.at))
        .select_from(AuditRow)
        .join(ContractRow, ContractRow.id == AuditRow.contract_id)
        .where(ContractRow.plan_code == plan, AuditRow.command == COMMAND)
        .where(AuditRow.job_id == job if job is not None else AuditRow.job_id.is_(None))
    )
    with database.session() as session:
        applied, last = session.execute(query.where(~refused)).one()
        refusals = session.execute(query.with_only_columns(func.count()).where(refused)).scalar()
    return Changes(applied=int(applied), refused=int(refusals or 0), last_at=last)


@dataclass
class Answers:
    answered: int
    last_answered_at: datetime | None
    status: str | None
    finished_at: datetime | None


def answers(database: Database, job: str) -> Answers:
    with database.session() as session:
        answered, last = session.execute(
            select(func.count(), func.max(BulkItemRow.answered_at)).where(
                BulkItemRow.job_id == job, BulkItemRow.outcome.is_not(None)
            )
        ).one()
        row = session.get(BulkJobRow, job)
        status = row.status if row is not None else None
        finished = row.finished_at if row is not None else None
    return Answers(int(answered), last, status, finished)


def page_turns(database: Database, job: str, page_size: int) -> dict[str, Any]:
    """The job's pages (`page_size` contracts each, in order) and the seconds from one page's
    last answer to the next page's first: the page's activity round trip through the job's
    workflow, and the next page's first command, sent with `concurrency` others at once (so the
    turn grows with the concurrency while the CPUs work through them: not idle time)."""
    with database.session() as session:
        rows = session.execute(
            select(BulkItemRow.position, BulkItemRow.answered_at)
            .where(BulkItemRow.job_id == job, BulkItemRow.answered_at.is_not(None))
            .order_by(BulkItemRow.position)
        ).all()
    pages: dict[int, list[datetime]] = {}
    for position, answered_at in rows:
        if answered_at is not None:
            pages.setdefault(position // page_size, []).append(answered_at)
    spans = [(min(times), max(times)) for _, times in sorted(pages.items())]
    turns = [(later[0] - earlier[1]).total_seconds() for earlier, later in pairwise(spans)]
    lengths = [(last - first).total_seconds() for first, last in spans]
    return {
        "pages": len(spans),
        "page_seconds_mean": round(sum(lengths) / len(lengths), 2) if lengths else None,
        "page_turn_seconds_mean": round(sum(turns) / len(turns), 3) if turns else None,
        "page_turn_seconds_total": round(sum(turns), 2),
    }


def scheduled_prices(database: Database, plan: str) -> dict[str, int]:
    """How many of the plan's stored contracts have each scheduled price ("none": none)."""
    with database.session() as session:
        query = select(ContractRow.snapshot).where(ContractRow.plan_code == plan)
        snapshots = session.scalars(query)
        found: Counter[str] = Counter()
        for snapshot in snapshots:
            scheduled = json.loads(snapshot).get("scheduled_price")
            found[str(Decimal(scheduled["price"])) if scheduled else "none"] += 1
    return dict(found)


async def follow(
    label: str,
    total: int,
    count: Callable[[], int],
    *,
    running: asyncio.Task[Any] | None = None,
    stall: float = STALL_SECONDS,
) -> tuple[int, bool]:
    """Poll `count()` (in a thread) until it reaches `total` — and, with `running`, until that
    task has ended too; (last count, whether it stalled: no change for `stall` s)."""
    done, last, since = 0, -1, time.monotonic()
    with progress() as bar:
        task = bar.add_task(label, total=total)
        while True:
            await asyncio.sleep(POLL_SECONDS)
            ended = running is None or running.done()
            done = await asyncio.to_thread(count)
            bar.update(task, completed=done)
            if ended and (done >= total or running is not None):
                return done, False
            if done != last:
                last, since = done, time.monotonic()
            elif time.monotonic() - since > stall:
                return done, True


def span(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 2) if end is not None else None


async def history_events(client: Client, contract_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id(contract_id)).fetch_history()
    return [event_name(event) for event in history.events]
