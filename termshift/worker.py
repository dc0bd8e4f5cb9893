"""The Termshift worker: runs contract workflows and their activities on the task queue.

    python worker.py            # the entry point; connects with Temporal's environment settings

Connection settings come from Temporal's standard environment configuration (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, or a temporal.toml profile); the billing
database and the worker's capacity (cache size, concurrency, threads) from TERMSHIFT_* variables
(`termshift.settings.Settings`). A billing database that is locked or not reachable yet is
waited for (`Database.migrate_when_available`). SIGINT or SIGTERM stops it after in-flight work
finishes.
"""

import asyncio
import concurrent.futures
import gc
import logging
import signal
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.worker import Interceptor, PollerBehaviorSimpleMaximum, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities import ContractActivities
from activities.bulk import BulkActivities
from activities.webhooks import WebhookActivities
from store.db import Database
from termshift.settings import Settings, describe_invalid
from termshift.temporal import connect, data_converter
from workflows import ContractWorkflow
from workflows.bulk import BulkJobWorkflow
from workflows.sandbox import workflow_runner
from workflows.webhooks import WebhookEndpointWorkflow

log = logging.getLogger("termshift.worker")


def capacity(settings: Settings) -> dict[str, Any]:
    """The `Worker` options that size it: cache, concurrent tasks and polls."""
    return {
        "max_cached_workflows": settings.workflow_cache_size,
        "max_concurrent_workflow_tasks": settings.max_concurrent_workflow_tasks,
        "max_concurrent_activities": settings.max_concurrent_activities,
        "max_concurrent_local_activities": settings.max_concurrent_local_activities,
        "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(
            maximum=settings.workflow_task_pollers
        ),
        "nonsticky_to_sticky_poll_ratio": settings.nonsticky_poll_ratio,
        "sticky_queue_schedule_to_start_timeout": timedelta(
            seconds=settings.sticky_timeout_seconds
        ),
    }


def build_worker(
    client: Client,
    database: Database,
    *,
    task_queue: str,
    executor: concurrent.futures.Executor,
    settings: Settings | None = None,
    max_cached_workflows: int | None = None,
    interceptors: Sequence[Interceptor] = (),
    strict_sandbox: bool = False,
) -> Worker:
    """A worker with every contract workflow and activity registered, sized by `settings`.

    `strict_sandbox=True` runs workflows in the SDK's default sandbox, which re-imports our own
    modules per run and refuses non-deterministic calls anywhere in them; the tests run that way,
    production workers as `settings.workflow_sandbox` says (`workflows.sandbox`).

    `max_cached_workflows=0` keeps no workflow in memory between tasks (each task replays the
    history), which also means no sticky task queue outlives the worker. Only for tests that stop
    a worker midway: under load it evicts contracts while their local activities run (the
    settings refuse it).
    """
    settings = settings if settings is not None else Settings()
    options = capacity(settings)
    if max_cached_workflows is not None:
        options["max_cached_workflows"] = max_cached_workflows
    if isinstance(executor, concurrent.futures.ThreadPoolExecutor):
        # No more activities at once than threads to run them (the tests use fewer threads).
        threads = executor._max_workers
        for name in ("max_concurrent_activities", "max_concurrent_local_activities"):
            options[name] = min(options[name], threads)
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
        workflow_runner=(
            SandboxedWorkflowRunner()
            if strict_sandbox
            else workflow_runner(sandboxed=settings.workflow_sandbox)
        ),
        graceful_shutdown_timeout=timedelta(seconds=20),
        interceptors=interceptors,
        **options,
    )


def build_webhook_worker(
    client: Client, database: Database, *, settings: Settings, strict_sandbox: bool = False
) -> Worker:
    """A worker for the endpoints' delivery workflows, on their own task queue: its activities
    are async and wait on receivers, never on the threads and slots invoice dates need."""
    webhook_activities = WebhookActivities(database)
    return Worker(
        client,
        task_queue=settings.webhook_task_queue,
        workflows=[WebhookEndpointWorkflow],
        activities=[
            webhook_activities.claim,
            webhook_activities.deliver,
            webhook_activities.give_up,
        ],
        max_concurrent_activities=settings.max_concurrent_webhook_activities,
        workflow_runner=(
            SandboxedWorkflowRunner()
            if strict_sandbox
            else workflow_runner(sandboxed=settings.workflow_sandbox)
        ),
        graceful_shutdown_timeout=timedelta(seconds=20),
    )


def build_bulk_worker(
    client: Client, database: Database, *, settings: Settings, strict_sandbox: bool = False
) -> Worker:
    """A worker for bulk jobs, on their own task queue: a page's activity waits on contracts'
    updates, which the contract worker answers."""
    bulk_activities = BulkActivities(client, database)
    return Worker(
        client,
        task_queue=settings.bulk_task_queue,
        workflows=[BulkJobWorkflow],
        activities=[bulk_activities.apply_page, bulk_activities.finish_job],
        max_concurrent_activities=4,
        # A page heartbeats every second; each reaches the server, so a cancelled job hears of
        # it within a second or two (by default the SDK sends one per 0.8 heartbeat timeout).
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        default_heartbeat_throttle_interval=timedelta(seconds=1),
        workflow_runner=(
            SandboxedWorkflowRunner()
            if strict_sandbox
            else workflow_runner(sandboxed=settings.workflow_sandbox)
        ),
        graceful_shutdown_timeout=timedelta(seconds=20),
    )


def freeze_startup_objects() -> None:
    """Keep what lives as long as the worker out of the garbage collector's way.

    Once started, a worker holds some 120,000 objects that never die: modules, pydantic and
    protobuf schemas, the SDK. Python's full collections would go through all of them again each
    time; frozen, they are skipped, and a full collection goes only through what came after —
    mostly contract workflows, which the cache evicts in turn. At month-end that halved the
    worker's time in full collections (bench/README.md).
    """
    gc.collect()
    gc.freeze()


async def run_worker(
    client: Client,
    database: Database,
    *,
    settings: Settings,
    stop: asyncio.Event,
    interceptors: Sequence[Interceptor] = (),
) -> None:
    """Run until `stop` is set, then let in-flight activities finish and shut down."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=settings.activity_threads) as executor:
        worker = build_worker(
            client,
            database,
            task_queue=settings.task_queue,
            executor=executor,
            settings=settings,
            interceptors=interceptors,
        )
        webhook_worker = build_webhook_worker(client, database, settings=settings)
        bulk_worker = build_bulk_worker(client, database, settings=settings)
        async with worker, webhook_worker, bulk_worker:
            freeze_startup_objects()
            log.info(
                "Worker polling task queues %s, %s and %s",
                settings.task_queue,
                settings.webhook_task_queue,
                settings.bulk_task_queue,
            )
            await stop.wait()
            log.info("Stopping worker")


async def main(interceptors: Sequence[Interceptor] = ()) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings()
    except ValidationError as error:
        raise SystemExit(f"Invalid worker settings — {describe_invalid(error)}.") from None
    data_converter(settings)  # refuse a malformed payload key before touching anything
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    database = Database(settings.billing_database_url())
    try:
        if not await database.migrate_when_available(stop):
            return
        client = await connect(profile=settings.temporal_profile)
        await run_worker(client, database, settings=settings, stop=stop, interceptors=interceptors)
    finally:
        database.dispose()
