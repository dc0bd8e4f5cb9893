"""The engine's floor: a bare workflow that sleeps until one absolute instant, then runs one
regular activity that inserts one row into a SQLite table. `bench/month_end.py` compares
Termshift's contract workflow against it.

    python bench/skeleton.py --address HOST:PORT --task-queue Q --db PATH   # runs a worker
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

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

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
        workflows=[SkeletonWorkflow],
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
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    importlib.import_module("bench.skeleton").main()
