"""Bulk-job benchmark: one command over N contracts as a Termshift bulk job, against Temporal's own
batch signal, on the same server in one run.

    python bench/bulk.py [--contracts N] [--postgres] [--concurrency C] [--page-size P]
                         [--batcher-rps R] [--bulk-first] [--profile DIR] [--out DIR] [--keep]
                         [--note TEXT]

1. A Temporal dev server of its own (SQLite file in a temp dir, search attributes registered;
   `--batcher-rps R` sets its `worker.batcherRPS`, the server's default is 50) and `python
   worker.py` as a subprocess. The billing database as bench/month_end.py chooses it:
   TERMSHIFT_DATABASE_URL, or with `--postgres` a fresh PostgreSQL database (dropped at the end),
   else a temp SQLite file.
2. N contracts on one plan, imported as `contracts import` does (bench/month_end.py's
   `import_all`: the rows in one transaction, then the workflows started 50 at a time), all
   starting in START_IN_DAYS days: each workflow sleeps until then, and every one of them accepts
   `set_price`.
3. The baseline, Temporal's batch signal: `temporal workflow signal --query "<the plan's running
   contract workflows>" --name set_price --input '{"actor": …, "price": P1, "from": D}' --yes`.
   The server's batcher signals each workflow, which runs the signal through the `set_price`
   update's validator and handler. Timed from the command's start until the last contract's
   change is in the billing database (its `set_price` audit entry, no bulk job).
4. The bulk job, as an operator runs it: `python starter.py bulk run --do set-price --price P2
   --from D --plan CODE --job ID --json` (TERMSHIFT_BULK_CONCURRENCY = `--concurrency`, 64 by
   default). Timed from the command's start until the job is done, every contract's answer
   written; its report must say that every contract applied the price.
5. For each phase: CPU seconds of the server, the worker (by thread), the command line and the
   rest of the machine; the worker's and the server's peak RSS (VmHWM, reset before the phase);
   the stored contracts' scheduled price afterwards; one contract's history events.

Results: bench/results/<timestamp>-bulk-n<N>[-c<C>][-p<P>][-rps<R>][-bulk-first][-postgres].json
and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.bulk_measure import (  # noqa: E402
    COMMAND,
    STALL_SECONDS,
    Child,
    Stack,
    answers,
    begin,
    changes,
    end,
    follow,
    history_events,
    page_turns,
    run_child,
    scheduled_prices,
    span,
)
from bench.bulk_report import (  # noqa: E402
    BATCH_PRICE,
    BULK_PRICE,
    DEFAULT_CONCURRENCY,
    add_notes,
    code_state,
    markdown,
    print_table,
    result_name,
    value_at,
)
from bench.harness import (  # noqa: E402
    RESULTS,
    BillingDatabase,
    CpuMeter,
    Results,
    billing_database,
    console,
    drop_postgres_database,
    rate,
    ratio,
    start_server,
    start_worker,
    stop_process,
    temporal_binary,
    write_results,
)
from bench.month_end import add_site, contracts_of, import_all  # noqa: E402
from bench.month_end_report import WORKER_SETTINGS  # noqa: E402
from billing.calendar import local_date  # noqa: E402
from billing.contract import Location  # noqa: E402
from store.db import Database  # noqa: E402
from termshift.services import bulk as bulk_service  # noqa: E402
from termshift.settings import Settings  # noqa: E402
from workflows.bulk import BulkJobWorkflow  # noqa: E402
from workflows.bulk_requests import PAGE_SIZE, PAGES_PER_RUN, BulkRun  # noqa: E402
from workflows.bulk_requests import workflow_id as bulk_workflow_id  # noqa: E402

DEFAULT_CONTRACTS = 10_000
MAX_CONTRACTS = 50_000
START_IN_DAYS = 14
"""The contracts start this many days from today: asleep on a timer, each takes `set_price`."""
ACTOR = "bench"
SERVER_BATCHER_RPS = 50
"""`worker.batcherRPS`, the dev server's default: the batcher's signals per second."""


# ------------------------------------------------------------------------------------------------
# Phases


async def onboard(stack: Stack, site: Any, start: date, queue: str, out: Results) -> None:
    contracts = contracts_of(site, stack.contract_ids, (start, start))
    phase = await begin(stack, "onboarding")
    seconds = await import_all(stack.client, stack.database, contracts, queue, "onboarding")
    # Each workflow's first task (it goes to sleep until its start) is part of onboarding.
    await stack.cpu.settle("after onboarding", timeout=300.0)
    end(stack, phase, len(contracts))
    n = len(contracts)
    out.numbers.update(onboarding_seconds=round(seconds, 2), onboarding_per_second=rate(n, seconds))
    console.print(f"  {n} contracts onboarded in {seconds:.1f} s ({rate(n, seconds)}/s)")


async def visible(stack: Stack, query: str, n: int, timeout: float = 300.0) -> int:
    """Wait until the visibility store lists all N workflows the batch's query selects."""
    deadline = time.monotonic() + timeout
    while True:
        found = (await stack.client.count_workflows(query)).count
        if found >= n or time.monotonic() > deadline:
            return found
        await asyncio.sleep(1.0)


def batch_query(plan: str) -> str:
    return f"WorkflowType = 'Contract' AND ExecutionStatus = 'Running' AND PlanCode = '{plan}'"


async def batch_phase(stack: Stack, n: int, day: date, out: Results) -> None:
    console.rule("[bold]Baseline: temporal workflow signal --query (batch signal)")
    query = batch_query(stack.plan)
    listed = await visible(stack, query, n)
    if listed != n:
        out.notes.append(f"The batch's query listed {listed} workflows, not {n}.")
    argument = {
        "actor": ACTOR,
        "reason": "bulk benchmark: batch signal",
        "price": str(BATCH_PRICE),
        "from": day.isoformat(),
    }
    command = [
        temporal_binary(),
        "workflow",
        "signal",
        "--address",
        stack.address,
        "--namespace",
        "default",
        "--query",
        query,
        "--name",
        COMMAND,
        "--input",
        json.dumps(argument),
        "--reason",
        "bulk benchmark: the baseline",
        "--yes",
        "--output",
        "json",
    ]
    phase = await begin(stack, "batch signal")
    stdout, stderr = stack.tmp / "batch-signal.json", stack.tmp / "batch-signal.log"
    child = await run_child(command, stack.env, stdout, stderr, timeout=120)
    if child.returncode != 0:
        raise SystemExit(f"temporal workflow signal failed: {stderr.read_text()[-2000:]}")
    job_id = json.loads(stdout.read_text())["batchJobId"]
    console.print(f"  batch job {job_id} started in {child.seconds:.2f} s")
    _, stalled = await follow(
        "batch signal: contracts changed",
        n,
        lambda: changes(stack.database, stack.plan, None).answered,
    )
    found = changes(stack.database, stack.plan, None)
    spent = end(stack, phase, max(found.applied, 1), child.cpu_seconds)
    described = await describe_batch(stack, job_id)
    seconds = span(phase.started_at, found.last_at)
    out.numbers["batch"] = {
        "command": " ".join(["temporal", *command[1:3], "--query", repr(query), "--name", COMMAND]),
        "input": argument,
        "batch_job_id": job_id,
        "listed_by_query": listed,
        "command_seconds": round(child.seconds, 2),
        "applied": found.applied,
        "refused": found.refused,
        "seconds_to_last_change": seconds,
        "contracts_per_second": rate(found.applied, seconds),
        "stalled": stalled,
        "batch_operation": described,
        **spent,
    }
    if stalled or found.applied != n:
        out.notes.append(
            f"Batch signal: {found.applied} of {n} contracts changed, {found.refused} refused"
            + (f"; no change for {STALL_SECONDS:g} s, given up." if stalled else ".")
        )
    console.print(
        f"  {found.applied} changed ({found.refused} refused) {seconds} s after the command "
        f"started: {rate(found.applied, seconds)} contracts/s"
    )


BATCH_FIELDS = (
    "state",
    "startTime",
    "closeTime",
    "totalOperationCount",
    "completeOperationCount",
    "failureOperationCount",
)
"""What the results keep of `temporal batch describe`."""


async def describe_batch(stack: Stack, job_id: str) -> dict[str, Any]:
    """`temporal batch describe`, once the batcher has closed the operation (at most 60 s)."""
    command = [temporal_binary(), "batch", "describe", "--address", stack.address]
    command += ["--namespace", "default", "--job-id", job_id, "--output", "json"]
    described: dict[str, Any] = {}
    for _ in range(60):
        finished = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, check=False
        )
        if finished.returncode == 0:
            described = json.loads(finished.stdout)
            if described.get("state") != "BATCH_OPERATION_STATE_RUNNING":
                break
        await asyncio.sleep(1.0)
    keep = BATCH_FIELDS
    found = {key: described[key] for key in keep if key in described}
    if "startTime" in found and "closeTime" in found:
        opened = datetime.fromisoformat(found["startTime"])
        closed = datetime.fromisoformat(found["closeTime"])
        found["seconds"] = round((closed - opened).total_seconds(), 2)
    return found


async def launch(
    stack: Stack, job: str, arguments: dict[str, Any], concurrency: int, page_size: int
) -> None:
    """What `bulk run` does before it follows the job (termshift.cli.bulk.launch), with a page
    size of the benchmark's: the job and its contracts written, its workflow started."""
    command = bulk_service.build_command(COMMAND, arguments)
    selection = bulk_service.Selection(plan=stack.plan)
    ids = await bulk_service.select_contracts(None, stack.database, selection)
    record = await asyncio.to_thread(
        bulk_service.create_job, stack.database, job, COMMAND, command, selection, ids
    )
    await stack.client.start_workflow(
        BulkJobWorkflow.run,
        BulkRun(job_id=job, total=record.total, concurrency=concurrency, page_size=page_size),
        id=bulk_workflow_id(job),
        task_queue=stack.env["TERMSHIFT_BULK_TASK_QUEUE"],
    )


async def job_finished(database: Database, job: str) -> None:
    while (await asyncio.to_thread(answers, database, job)).status == "running":
        await asyncio.sleep(0.5)


async def bulk_phase(
    stack: Stack, n: int, day: date, concurrency: int, page_size: int, run: str, out: Results
) -> None:
    """The bulk job as `bulk run` runs it; with a page size other than PAGE_SIZE (which the
    command line cannot set), created and started by the benchmark as `bulk run` does it."""
    by_cli = page_size == PAGE_SIZE
    how = "starter.py bulk run" if by_cli else f"started by the benchmark, page size {page_size}"
    console.rule(f"[bold]Bulk job: {how} (concurrency {concurrency})")
    job = f"bench-{run}"
    reason = "bulk benchmark: bulk job"
    command = [sys.executable, "starter.py", "bulk", "run", "--do", "set-price"]
    command += ["--price", str(BULK_PRICE), "--from", day.isoformat(), "--plan", stack.plan]
    command += ["--job", job, "--json", "--actor", ACTOR, "--reason", reason]
    env = {**stack.env, "TERMSHIFT_BULK_CONCURRENCY": str(concurrency)}
    phase = await begin(stack, "bulk job")
    stdout, stderr = stack.tmp / "bulk-report.json", stack.tmp / "bulk-run.log"
    running: asyncio.Task[Any]
    if by_cli:
        running = asyncio.create_task(run_child(command, env, stdout, stderr, timeout=4 * 3600))
    else:
        arguments = {"actor": ACTOR, "reason": reason, "price": str(BULK_PRICE)}
        arguments["from"] = day.isoformat()
        await launch(stack, job, arguments, concurrency, page_size)
        running = asyncio.create_task(job_finished(stack.database, job))
    _, stalled = await follow(
        "bulk job: contracts answered",
        n,
        lambda: answers(stack.database, job).answered,
        running=running,
    )
    if stalled:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        raise SystemExit(f"The bulk job stalled (no answer for {STALL_SECONDS:g} s); see {stderr}")
    child = running.result() if by_cli else Child(0, 0.0, time.perf_counter() - phase.perf)
    if child.returncode != 0:
        raise SystemExit(f"bulk run exited {child.returncode}: {stderr.read_text()[-2000:]}")
    if not by_cli:
        stdout.write_text(bulk_service.report(stack.database, job).model_dump_json())
    found = changes(stack.database, stack.plan, job)
    job_state = answers(stack.database, job)
    spent = end(stack, phase, max(found.applied, 1), child.cpu_seconds)
    report = json.loads(stdout.read_text())
    done_at = job_state.finished_at or job_state.last_answered_at
    seconds = span(phase.started_at, done_at)
    out.numbers["bulk"] = {
        "command": " ".join(["python", *command[1:]]) if by_cli else how,
        "job_id": job,
        "concurrency": concurrency,
        "page_size": page_size,
        "pages_per_run": PAGES_PER_RUN,
        "status": report["job"]["status"],
        "total": report["job"]["total"],
        "applied": report["applied"],
        "refused": report["refused"],
        "skipped": report["skipped"],
        "left": report["left"],
        "items_reported": len(report["items"]),
        "audit_applied": found.applied,
        "audit_refused": found.refused,
        "seconds_to_last_change": span(phase.started_at, found.last_at),
        "seconds_to_last_answer": span(phase.started_at, job_state.last_answered_at),
        "seconds_to_job_done": seconds,
        "command_seconds": round(child.seconds, 2),
        "contracts_per_second": rate(report["applied"], seconds),
        "changes_per_second": rate(found.applied, span(phase.started_at, found.last_at)),
        **page_turns(stack.database, job, page_size),
        **spent,
    }
    if report["applied"] != n or report["job"]["status"] != "done":
        out.notes.append(
            f"Bulk job {job}: {report['job']['status']}, {report['applied']} of {n} applied, "
            f"{report['refused']} refused, {report['skipped']} skipped, {report['left']} left."
        )
    console.print(
        f"  job {report['job']['status']}: {report['applied']} applied, {report['refused']} "
        f"refused, {report['skipped']} skipped; done {seconds} s after the command started: "
        f"{rate(report['applied'], seconds)} contracts/s (the command returned after "
        f"{child.seconds:.1f} s)"
    )


# ------------------------------------------------------------------------------------------------
# Report


async def bench(args: argparse.Namespace) -> int:
    n = args.contracts
    run = uuid.uuid4().hex[:6]
    tmp = Path(tempfile.mkdtemp(prefix="termshift-bench-bulk-"))
    out = Results()
    tuning = Settings()
    out.numbers.update(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        contracts=n,
        mode="dev server, SQLite file",
        cpu_count=os.cpu_count(),
        python=sys.version.split()[0],
        load_average_at_start=[round(value, 2) for value in os.getloadavg()],
        order="bulk job first" if args.bulk_first else "batch signal first",
        batcher_rps=args.batcher_rps or SERVER_BATCHER_RPS,
        batcher_rps_set=args.batcher_rps is not None,
        bulk_concurrency=args.concurrency,
        bulk_page_size=args.page_size,
        worker_settings={name: getattr(tuning, name) for name in WORKER_SETTINGS},
        code=code_state(),
    )
    if args.note:
        out.notes.append(args.note)
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    database: Database | None = None
    billing: BillingDatabase | None = None
    try:
        console.print(f"Starting the Temporal dev server in {tmp}…")
        dynamic = {"worker.batcherRPS": str(args.batcher_rps)} if args.batcher_rps else None
        server, address, client = await start_server(tmp, False, dynamic)
        billing = await asyncio.to_thread(billing_database, args.postgres, tmp, run)
        database = Database(billing.url)
        await asyncio.to_thread(database.migrate)
        out.numbers["billing_database"] = database.url.get_backend_name()
        out.numbers["billing_database_where"] = billing.where
        console.print(f"Billing database: {database.url.get_backend_name()}, {billing.where}")

        queue = f"bench-{run}"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("TERMSHIFT_PAYLOAD_KEY")  # the batch signal's input is plain
        }
        env.update(
            TEMPORAL_ADDRESS=address,
            TEMPORAL_NAMESPACE="default",
            TERMSHIFT_DATABASE_URL=billing.url,
            TERMSHIFT_TASK_QUEUE=f"{queue}-contracts",
            TERMSHIFT_WEBHOOK_TASK_QUEUE=f"{queue}-webhooks",
            TERMSHIFT_BULK_TASK_QUEUE=f"{queue}-bulk",
        )
        worker = start_worker([sys.executable, "worker.py"], env, tmp / "worker.log")
        pids = {"worker": worker.pid, "server": server.pid}
        stack = Stack(
            client=client,
            address=address,
            database=database,
            env=env,
            tmp=tmp,
            cpu=CpuMeter(pids, split=("worker",)),
            pids=pids,
            plan="",
            contract_ids=[f"k{run}-{i:05d}" for i in range(n)],
            profile=args.profile,
        )
        location = Location(id=f"bulk-{run}", name="Bulk", timezone="UTC", currency="EUR")
        site = await asyncio.to_thread(
            add_site, database, location, [f"{i}-cust" for i in stack.contract_ids]
        )
        stack.plan = site.plan.code
        start = local_date(datetime.now(UTC), "UTC") + timedelta(days=START_IN_DAYS)
        out.numbers.update(plan=stack.plan, contracts_start=start.isoformat())
        await asyncio.sleep(2.0)  # the worker's start-up
        await onboard(stack, site, start, f"{queue}-contracts", out)
        first = stack.contract_ids[0]
        events = await history_events(client, first)
        history: dict[str, Any] = {"after onboarding": len(events)}

        async def added(what: str) -> None:
            """The events the phase added to one contract's history, once every contract's last
            workflow task is done (a signal's change is written before it)."""
            nonlocal events
            await stack.cpu.settle(f"after the {what.removeprefix('after the ')}", timeout=180.0)
            now = await history_events(client, first)
            history[what] = len(now)
            history[f"events added by the {what.removeprefix('after the ')}"] = now[len(events) :]
            events = now

        async def batch() -> None:
            await batch_phase(stack, n, start, out)
            out.numbers["scheduled_prices_after_batch"] = scheduled_prices(database, stack.plan)
            await added("after the batch signal")

        async def bulk() -> None:
            await bulk_phase(stack, n, start, args.concurrency, args.page_size, run, out)
            out.numbers["scheduled_prices_after_bulk"] = scheduled_prices(database, stack.plan)
            await added("after the bulk job")

        for phase in (bulk, batch) if args.bulk_first else (batch, bulk):
            await phase()
        out.numbers["history_events_of_one_contract"] = history

        numbers = out.numbers
        numbers["phases"] = stack.phases
        numbers["cpu_ms_per_item"] = stack.cpu.per_item
        numbers["bulk_vs_batch"] = ratio(
            value_at(numbers, "bulk.contracts_per_second"),
            value_at(numbers, "batch.contracts_per_second"),
        )
        for name in pids:
            peaks = [phase.get(name) for phase in stack.peaks.values()]
            numbers[f"{name}_peak_rss_mb"] = max((p for p in peaks if p is not None), default=None)
        numbers["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
        add_notes(numbers, out.notes)
        if worker.poll() is not None:
            out.notes.append(f"The worker exited early (code {worker.returncode}).")
        numbers["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        print_table(numbers)
        for note in out.notes:
            console.print(f"[yellow]note:[/] {note}")
        document = {**numbers, "notes": out.notes}
        table = markdown(numbers, out.notes)
        path = write_results(args.out, [result_name(numbers)], document, table)
        console.print(f"Results: {path} and {path.with_suffix('.md')}")
        ok = value_at(numbers, "bulk.applied") == n and value_at(numbers, "batch.applied") == n
        return 0 if ok else 1
    finally:
        stop_process(worker)
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


def positive(text_value: str) -> int:
    value = int(text_value)
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contracts", type=contracts_count, default=DEFAULT_CONTRACTS)
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="billing database: a fresh PostgreSQL database termshift_bench_<run> on "
        "127.0.0.1:5432, dropped at the end",
    )
    parser.add_argument(
        "--concurrency",
        type=positive,
        default=DEFAULT_CONCURRENCY,
        help=f"TERMSHIFT_BULK_CONCURRENCY of the bulk job (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--batcher-rps",
        type=positive,
        help=f"the dev server's worker.batcherRPS (its default: {SERVER_BATCHER_RPS})",
    )
    parser.add_argument(
        "--page-size",
        type=positive,
        default=PAGE_SIZE,
        help=f"contracts per page of the bulk job (default {PAGE_SIZE}); another size than the "
        "default starts the job from the benchmark, as `bulk run` does, not from the command line",
    )
    parser.add_argument(
        "--bulk-first", action="store_true", help="run the bulk job before the batch signal"
    )
    parser.add_argument(
        "--profile", type=Path, help="write py-spy samples of the worker in each phase here"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    parser.add_argument("--note", help="a note for the results (what else ran on the machine)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, databases)")
    args = parser.parse_args(argv)
    if args.postgres and os.environ.get("TERMSHIFT_DATABASE_URL"):
        parser.error("--postgres creates its own database: unset TERMSHIFT_DATABASE_URL")
    if args.concurrency > 500:
        parser.error("--concurrency: at most 500 (Settings.bulk_concurrency)")
    if args.page_size > 5000:
        parser.error("--page-size: at most 5000 (BulkRun.page_size)")
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(bench(args))
    return 130


if __name__ == "__main__":
    raise SystemExit(main())
