"""The engine's floors, the workflows `bench/month_end.py` compares Termshift's contract with:

- `SkeletonWorkflow`, the bare floor: it sleeps until one absolute instant, then runs one regular
  activity that inserts one row into a SQLite table, and completes.
- `SameCommandsWorkflow`, the same-commands floor: each of its dates makes the Temporal commands a
  contract's date makes, and nothing of Termshift's billing. It starts with the contract's static
  summary and details and its search attributes (the same keys and value types); at each date it
  asks the patch a contract's first date of a run asks (a marker, and the SDK's own
  `TemporalChangeVersion` upsert), writes the date with a local activity named by a summary (one
  row into the same SQLite table, not an invoice), upserts the search attributes that changed
  (`ContractStatus` on the first date, `NextInvoiceAt` on each), sets its current details, and
  sleeps on a timer named by a summary until the next date, as a contract sleeps until its next
  invoice.

    python bench/skeleton.py --address HOST:PORT --task-queue Q --db PATH   # runs a worker

The worker runs both workflows on one task queue.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import importlib
import signal
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: `bench` and Termshift's packages from here
    sys.path.insert(0, str(ROOT))

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as attributes

TABLE = "skeleton_rows"


def create_table(db_path: str) -> None:
    with sqlite3.connect(db_path) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} "
            "(workflow_id TEXT PRIMARY KEY, inserted_at TEXT NOT NULL)"
        )


class SkeletonActivities:
    def __init__(self, db_path: str) -> None:
        self.db_path = db_path

    @activity.defn(name="skeleton_insert")
    def insert(self, workflow_id: str) -> None:
        connection = sqlite3.connect(self.db_path, timeout=30)
        try:
            with connection:
                connection.execute(
                    f"INSERT OR IGNORE INTO {TABLE} (workflow_id, inserted_at) VALUES (?, ?)",
                    (workflow_id, datetime.now(UTC).isoformat()),
                )
        finally:
            connection.close()


@workflow.defn(name="Skeleton")
class SkeletonWorkflow:
    @workflow.run
    async def run(self, fire_at: datetime) -> None:
        remaining = fire_at - workflow.now()
        if remaining > timedelta(0):
            await workflow.sleep(remaining)
        await workflow.execute_activity(
            "skeleton_insert",
            workflow.info().workflow_id,
            start_to_close_timeout=timedelta(seconds=60),
        )


# ------------------------------------------------------------------------------------------------
# The same commands as a contract's date


FIRST_DATE_PATCH = "record-day-as-local-activity"
"""The patch a contract's first date of a run asks (`workflows.contract.RECORD_DAY_LOCALLY`), by
the same name, so that its marker and the `TemporalChangeVersion` upsert are the same size."""
WRITE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
"""As a contract's date is retried (`workflows.contract.WRITE_RETRY`)."""
NEXT_PERIOD = timedelta(days=31)


class SameCommandsInput(BaseModel):
    """One same-commands skeleton: its dates' instants in order (the last is the measured one; an
    earlier one that is already due runs at once, as a backdated contract's first date does) and
    the names it shows where a contract shows its own."""

    dates: list[datetime]
    contract_id: str
    customer_id: str
    location_id: str
    plan_code: str = "bench-desk"
    timezone: str = "UTC"


def search_attribute_updates(
    input: SameCommandsInput, status: str, next_at: datetime
) -> list[SearchAttributeUpdate[Any]]:
    """Every custom search attribute of a contract, set or unset, as `workflows.visibility`
    builds them for a contract with no scheduled change and no end."""
    return [
        attributes.CONTRACT_ID.value_set(input.contract_id),
        attributes.CUSTOMER_ID.value_set(input.customer_id),
        attributes.LOCATION_ID.value_set(input.location_id),
        attributes.PLAN_CODE.value_set(input.plan_code),
        attributes.CONTRACT_STATUS.value_set(status),
        attributes.NEXT_PLAN_CODE.value_unset(),
        attributes.NEXT_INVOICE_AT.value_set(next_at),
        attributes.CANCELLATION_AT.value_unset(),
    ]


def same_commands_start_options(input: SameCommandsInput) -> dict[str, Any]:
    """How a same-commands skeleton starts, as `termshift.services.contracts.start_options` starts a
    contract: never a second run, its search attributes set (those with a value), a static
    summary and static details."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(update.key, update.value)
        for update in search_attribute_updates(input, "inactive", input.dates[0])
        if update.value is not None
    ]
    return {
        "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
        "search_attributes": TypedSearchAttributes(pairs),
        "static_summary": (
            f"Contract {input.contract_id} · customer {input.customer_id} · Hot desk "
            f"({input.plan_code}) at €1,500.00 every 1 month"
        ),
        "static_details": "  \n".join(
            [
                f"**Contract:** {input.contract_id} for customer {input.customer_id}",
                f"**Location:** {input.location_id} ({input.timezone}, EUR)",
                f"**Plan:** {input.plan_code} (Hot desk), every 1 month",
                f"**Start:** {input.dates[0]:%Y-%m-%d}, billing anchored on "
                f"{input.dates[0]:%Y-%m-%d}",
            ]
        ),
    }


def row_key(workflow_id: str, date_number: int) -> str:
    """The skeleton row a same-commands skeleton writes on its date `date_number` (from 0)."""
    return f"{workflow_id}/{date_number}"


@workflow.defn(name="SameCommandsSkeleton")
class SameCommandsWorkflow:
    @workflow.init
    def __init__(self, input: SameCommandsInput) -> None:
        self._input = input
        self._status = "inactive"
        self._next_at = input.dates[0]
        current = workflow.info().typed_search_attributes
        self._published = [
            update for update in self._updates() if current.get(update.key) == update.value
        ]

    @workflow.run
    async def run(self, input: SameCommandsInput) -> None:
        for number, fire_at in enumerate(input.dates):
            self._publish()
            remaining = fire_at - workflow.now()
            if remaining > timedelta(0):
                await workflow.sleep(remaining, summary=self._timer_summary())
            workflow.patched(FIRST_DATE_PATCH)
            await workflow.execute_local_activity(
                "skeleton_insert",
                row_key(workflow.info().workflow_id, number),
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=WRITE_RETRY,
                summary=f"{fire_at:%Y-%m-%d}: invoice for the period to "
                f"{fire_at + NEXT_PERIOD - timedelta(days=1):%Y-%m-%d}",
            )
            self._status = "active"
            following = input.dates[number + 1 : number + 2]
            self._next_at = following[0] if following else fire_at + NEXT_PERIOD
        self._publish()
        await workflow.sleep(self._next_at - workflow.now(), summary=self._timer_summary())

    def _updates(self) -> list[SearchAttributeUpdate[Any]]:
        return search_attribute_updates(self._input, self._status, self._next_at)

    def _publish(self) -> None:
        """As a contract keeps its search attributes and current details in step."""
        updates = self._updates()
        changed = [update for update in updates if update not in self._published]
        if changed:
            workflow.upsert_search_attributes(changed)
        self._published = updates
        workflow.set_current_details(
            "  \n".join(
                [
                    f"**Status:** {self._status}",
                    f"**Plan:** {self._input.plan_code} at €1,500.00",
                    f"**Next:** invoice on {self._next_at:%Y-%m-%d} for the period to "
                    f"{self._next_at + NEXT_PERIOD - timedelta(days=1):%Y-%m-%d}.",
                ]
            )
        )

    def _timer_summary(self) -> str:
        return (
            f"Invoice on {self._next_at:%Y-%m-%d} for the period to "
            f"{self._next_at + NEXT_PERIOD - timedelta(days=1):%Y-%m-%d} at 00:00 "
            f"{self._input.timezone}"
        )


# ------------------------------------------------------------------------------------------------
# The worker


def build_worker(
    client: Client, db_path: str, *, task_queue: str, executor: concurrent.futures.Executor
) -> Worker:
    """Sized as the Termshift worker is (`termshift.worker.capacity`: cache, concurrent tasks,
    polls; the same TERMSHIFT_* settings), and its workflow module likewise loaded once, not per
    run."""
    from termshift.settings import Settings
    from termshift.worker import capacity
    from workflows.sandbox import workflow_runner

    settings = Settings()
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[SkeletonWorkflow, SameCommandsWorkflow],
        activities=[SkeletonActivities(db_path).insert],
        activity_executor=executor,
        workflow_runner=workflow_runner(
            sandboxed=settings.workflow_sandbox, also_passed_through=("bench",)
        ),
        **capacity(settings),
    )


async def serve(address: str, task_queue: str, db_path: str) -> None:
    from termshift.temporal import connect

    create_table(db_path)
    client = await connect(address=address, namespace="default")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    from termshift.settings import Settings

    threads = Settings().activity_threads
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as executor:
        async with build_worker(client, db_path, task_queue=task_queue, executor=executor):
            await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.address, args.task_queue, args.db))


if __name__ == "__main__":
    # Run the worker with the classes of `bench.skeleton` (not `__main__`), so that the workflow
    # sandbox re-imports the very module that defines them.
    importlib.import_module("bench.skeleton").main()
