"""The Termshift worker: runs contract workflows and their activities on the task queue.

    python worker.py            # connects with Temporal's environment configuration

Connection settings come from Temporal's standard environment configuration (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, or a temporal.toml profile); the billing
database from TERMSHIFT_DATABASE_URL. SIGINT or SIGTERM stops it after in-flight work finishes.
"""

import asyncio
import concurrent.futures
import logging
import signal
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from activities import ContractActivities
from store.db import Database
from termshift.settings import Settings
from termshift.temporal import connect, data_converter
from workflows import ContractWorkflow

log = logging.getLogger("termshift.worker")


def build_worker(
    client: Client,
    database: Database,
    *,
    task_queue: str,
    executor: concurrent.futures.Executor,
    max_cached_workflows: int = 1000,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    """A worker with every contract workflow and activity registered.

    `max_cached_workflows=0` keeps no workflow in memory between tasks (each task replays the
    history), which also means no sticky task queue outlives the worker.
    """
    contract_activities = ContractActivities(database)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ContractWorkflow],
        activities=[
            contract_activities.register_contract,
            contract_activities.record_step,
            contract_activities.record_day,
            contract_activities.load_plan,
            contract_activities.record_command,
            contract_activities.record_new_term,
        ],
        activity_executor=executor,
        max_cached_workflows=max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=20),
        interceptors=interceptors,
    )


async def run_worker(
    client: Client,
    database: Database,
    *,
    task_queue: str,
    stop: asyncio.Event,
    interceptors: Sequence[Interceptor] = (),
) -> None:
    """Run until `stop` is set, then let in-flight activities finish and shut down."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as executor:
        worker = build_worker(
            client, database, task_queue=task_queue, executor=executor, interceptors=interceptors
        )
        async with worker:
            log.info("Worker polling task queue %s", task_queue)
            await stop.wait()
            log.info("Stopping worker")


async def main(interceptors: Sequence[Interceptor] = ()) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings()
    data_converter(settings)  # refuse a malformed payload key before touching anything
    database = Database(settings.billing_database_url())
    database.migrate()
    client = await connect(profile=settings.temporal_profile)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await run_worker(
            client,
            database,
            task_queue=settings.task_queue,
            stop=stop,
            interceptors=interceptors,
        )
    finally:
        database.dispose()


if __name__ == "__main__":
    asyncio.run(main())
