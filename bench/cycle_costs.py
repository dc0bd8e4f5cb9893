"""What each part of a billing cycle costs the engine: N bare workflows fire at one instant, once
per variant, each variant adding one part of Termshift's ordinary cycle to the one before.

    python bench/cycle_costs.py [--workflows N] [--in-memory] [--out DIR]

| variant | after its timer fires, the workflow |
|---|---|
| activity | runs one regular activity that inserts a row, and completes (the month-end skeleton) |
| local activity | inserts the row in a local activity, then sleeps on to its next date |
| + search attribute | also upserts its next invoice instant (`NextInvoiceAt`) |
| + summaries, details | also names the local activity and the timer, and sets current details |
| + patch | also asks `workflow.patched` first, as a run's first date does (a marker and the |
| | SDK's own `TemporalChangeVersion` upsert) |

Every variant runs on the same fresh dev server (a SQLite file, as `month_end.py` uses, or
`--in-memory`) with one worker in this process that caches every workflow, so that the numbers
hold the cost of a cycle's tasks and not of rebuilding workflows from their histories. For each:
firings per second from the instant to the last row, and the server's and this process's CPU per
firing. Results: bench/results/cycle-costs-<timestamp>.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import importlib
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402
from rich.table import Table  # noqa: E402
from temporalio import workflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from bench.harness import (  # noqa: E402
    RESULTS,
    console,
    cpu_seconds,
    start_server,
    stop_process,
    timestamp,
    write_results,
)
from bench.skeleton import TABLE, SkeletonActivities, create_table  # noqa: E402
from termshift.settings import Settings  # noqa: E402
from termshift.temporal import NEXT_INVOICE_AT  # noqa: E402
from workflows.sandbox import workflow_runner  # noqa: E402

TASK_QUEUE = "cycle-costs"
MAX_WORKFLOWS = 5_000


class Cycle(BaseModel):
    """One variant's cycle: which parts it adds to the bare timer and write."""

    fire_at: datetime
    local: bool = False
    upsert: bool = False
    annotate: bool = False
    patch: bool = False


@dataclass(frozen=True)
class Variant:
    name: str
    local: bool = False
    upsert: bool = False
    annotate: bool = False
    patch: bool = False


VARIANTS = (
    Variant("activity"),
    Variant("local activity", local=True),
    Variant("+ search attribute", local=True, upsert=True),
    Variant("+ summaries, details", local=True, upsert=True, annotate=True),
    Variant("+ patch (a run's first date)", local=True, upsert=True, annotate=True, patch=True),
)


def count_rows(db_path: Path, prefix: str) -> int:
    with sqlite3.connect(db_path, timeout=30) as connection:
        (found,) = connection.execute(
            f"SELECT count(*) FROM {TABLE} WHERE workflow_id LIKE ?", (f"{prefix}%",)
        ).fetchone()
    return int(found)


@workflow.defn(name="CycleCost")
class CycleWorkflow:
    @workflow.run
    async def run(self, cycle: Cycle) -> None:
        remaining = cycle.fire_at - workflow.now()
        if remaining > timedelta(0):
            await workflow.sleep(remaining)
        options: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=60)}
        workflow_id = workflow.info().workflow_id
        if not cycle.local:
            await workflow.execute_activity("skeleton_insert", workflow_id, **options)
            return
        if cycle.patch:
            workflow.patched("cycle-cost-patch")
        if cycle.annotate:
            options["summary"] = "2026-12-01: invoice for the period to 2026-12-31"
        await workflow.execute_local_activity(
            "skeleton_insert", workflow.info().workflow_id, **options
        )
        following = cycle.fire_at + timedelta(days=31)
        if cycle.upsert:
            workflow.upsert_search_attributes([NEXT_INVOICE_AT.value_set(following)])
        if cycle.annotate:
            workflow.set_current_details("Next: invoice on 2027-01-01 for the period to 2027-01-31")
        await workflow.sleep(
            following - workflow.now(),
            summary="invoice at 00:00 Europe/Berlin" if cycle.annotate else None,
        )


async def measure(
    client: Client, server_pid: int, db_path: Path, variant: Variant, n: int, index: int
) -> dict[str, Any]:
    prefix = f"v{index}-"
    lead = 10 + n / 50
    fire_at = datetime.now(UTC) + timedelta(seconds=lead)
    cycle = Cycle(
        fire_at=fire_at,
        local=variant.local,
        upsert=variant.upsert,
        annotate=variant.annotate,
        patch=variant.patch,
    )
    limit = asyncio.Semaphore(50)

    async def start(i: int) -> None:
        async with limit:
            await client.start_workflow(
                CycleWorkflow.run, cycle, id=f"{prefix}{i}", task_queue=TASK_QUEUE
            )

    with console.status(f"{variant.name}: starting {n} workflows"):
        await asyncio.gather(*(start(i) for i in range(n)))
    late = datetime.now(UTC) > fire_at - timedelta(seconds=1)
    with console.status(f"{variant.name}: waiting for the instant, then {n} rows"):
        await asyncio.sleep(max(0.0, (fire_at - datetime.now(UTC)).total_seconds() - 0.5))
        server_before, own_before = cpu_seconds(server_pid), time.process_time()
        while count_rows(db_path, prefix) < n:
            await asyncio.sleep(0.1)
        seconds = (datetime.now(UTC) - fire_at).total_seconds()
        server_ms = (cpu_seconds(server_pid) - server_before) * 1000 / n
        own_ms = (time.process_time() - own_before) * 1000 / n
    result = {
        "variant": variant.name,
        "seconds": round(seconds, 2),
        "firings_per_second": round(n / seconds, 1),
        "server_cpu_ms_per_firing": round(server_ms, 1),
        "worker_cpu_ms_per_firing": round(own_ms, 1),
    }
    if late:
        result["note"] = "the starts overran the instant; this variant's numbers are not clean"
    console.print(
        f"  {variant.name}: {n} firings in {seconds:.1f} s ({n / seconds:.1f}/s); "
        f"CPU per firing {server_ms:.1f} ms server, {own_ms:.1f} ms worker"
    )
    return result


async def bench(args: argparse.Namespace) -> int:
    n = args.workflows
    settings = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="termshift-cycle-costs-"))
    server = None
    try:
        server, _, client = await start_server(tmp, args.in_memory)
        db_path = tmp / "rows.db"
        create_table(str(db_path))
        results = []
        with concurrent.futures.ThreadPoolExecutor(settings.activity_threads) as executor:
            async with Worker(
                client,
                task_queue=TASK_QUEUE,
                workflows=[CycleWorkflow],
                activities=[SkeletonActivities(str(db_path)).insert],
                activity_executor=executor,
                workflow_runner=workflow_runner(
                    sandboxed=settings.workflow_sandbox, also_passed_through=("bench",)
                ),
                max_cached_workflows=len(VARIANTS) * n + 100,
            ):
                for index, variant in enumerate(VARIANTS):
                    results.append(await measure(client, server.pid, db_path, variant, n, index))
        numbers = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "workflows": n,
            "server": "dev server, in memory" if args.in_memory else "dev server, SQLite file",
            "workflow_sandbox": settings.workflow_sandbox,
            "cpus": os.cpu_count(),
            "variants": results,
        }
        path = write_results(args.out, [f"cycle-costs-{timestamp()}"], numbers, markdown(numbers))
        print_table(numbers)
        console.print(f"Results: {path} (and .md)")
        return 0
    finally:
        stop_process(server)
        shutil.rmtree(tmp, ignore_errors=True)


COLUMNS = [
    ("firings_per_second", "firings/s"),
    ("server_cpu_ms_per_firing", "server CPU ms/firing"),
    ("worker_cpu_ms_per_firing", "worker CPU ms/firing"),
]


def markdown(numbers: dict[str, Any]) -> str:
    lines = [
        f"Cycle costs, {numbers['started_at']}: {numbers['workflows']} workflows per variant, "
        f"{numbers['server']}, {numbers['cpus']} CPUs, workflow sandbox "
        f"{'on' if numbers['workflow_sandbox'] else 'off'}, every workflow cached",
        "",
        "| variant | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for result in numbers["variants"]:
        cells = " | ".join(str(result[key]) for key, _ in COLUMNS)
        lines.append(f"| {result['variant']} | {cells} |")
    notes = [f"- {r['variant']}: {r['note']}" for r in numbers["variants"] if "note" in r]
    return "\n".join([*lines, "", *notes]).rstrip() + "\n"


def print_table(numbers: dict[str, Any]) -> None:
    table = Table(title=f"Cycle costs ({numbers['workflows']} workflows per variant)")
    table.add_column("variant")
    for _, label in COLUMNS:
        table.add_column(label, justify="right")
    for result in numbers["variants"]:
        table.add_row(result["variant"], *(str(result[key]) for key, _ in COLUMNS))
    console.print(table)


def workflows_count(text_value: str) -> int:
    value = int(text_value)
    if not 1 <= value <= MAX_WORKFLOWS:
        raise argparse.ArgumentTypeError(f"between 1 and {MAX_WORKFLOWS}, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=workflows_count, default=1000)
    parser.add_argument("--in-memory", action="store_true", help="dev server without a SQLite file")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    try:
        return asyncio.run(bench(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Run with the classes of `bench.cycle_costs` (not `__main__`), so that a sandboxed worker
    # re-imports the very module that defines them.
    raise SystemExit(importlib.import_module("bench.cycle_costs").main())
