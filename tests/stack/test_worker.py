"""The worker process: what `python worker.py` and `scripts/up` run until they are stopped."""

import asyncio
import gc
from pathlib import Path

from store.db import Database
from termshift.settings import Settings
from tests.support.temporal import new_task_queue, start_time_skipping
from worker import run_worker
from workflows import ContractWorkflow


async def test_a_running_worker_keeps_its_startup_objects_out_of_full_collections(
    tmp_path: Path,
) -> None:
    gc.unfreeze()
    database = Database(f"sqlite:///{tmp_path / 'billing.db'}")
    database.migrate()
    env = await start_time_skipping()
    stop = asyncio.Event()
    settings = Settings(task_queue=new_task_queue(), data_dir=tmp_path)
    running = asyncio.create_task(run_worker(env.client, database, settings=settings, stop=stop))
    try:
        async with asyncio.timeout(30):
            while gc.get_freeze_count() == 0:
                await asyncio.sleep(0.05)
        # The workflow class lives as long as the worker: frozen, no collection goes through it.
        assert not any(tracked is ContractWorkflow for tracked in gc.get_objects())
    finally:
        stop.set()
        await running
        gc.unfreeze()
        await env.shutdown()
        database.dispose()
    assert gc.get_freeze_count() == 0
