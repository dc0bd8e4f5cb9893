"""The worker process: what `python worker.py` and `scripts/up` run until they are stopped."""

import asyncio
import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from store.db import STARTUP_LOCK_WAIT_S, Database, alembic_config
from termshift.settings import Settings
from termshift.worker import run_worker
from tests.support.databases import ExclusiveLock, sqlite_file
from tests.support.temporal import new_task_queue, start_time_skipping
from workflows import ContractWorkflow

ROOT = Path(__file__).resolve().parents[2]


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


def worker_env(tmp_path: Path, database_path: Path, temporal_address: str) -> dict[str, str]:
    """What `python worker.py` reads: Temporal's address, the billing database, its task queue."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TEMPORAL_", "TERMSHIFT_"))
    }
    env.update(
        TEMPORAL_ADDRESS=temporal_address,
        TEMPORAL_NAMESPACE="default",
        TERMSHIFT_DATABASE_URL=f"sqlite:///{database_path}",
        TERMSHIFT_TASK_QUEUE=new_task_queue(),
        TERMSHIFT_DATA_DIR=str(tmp_path),
        PYTHONUNBUFFERED="1",
    )
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=output, stderr=output
        )


def wait_for_log(process: subprocess.Popen[bytes], log: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        if process.poll() is not None:
            pytest.fail(
                f"the worker exited ({process.returncode}) before {text!r}:\n{log.read_text()}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"no {text!r} within {timeout} s:\n{log.read_text()}")
        time.sleep(0.05)


def stop_worker(process: subprocess.Popen[bytes], log: Path) -> int:
    """SIGTERM, as `docker compose stop` sends; the exit code (the worker killed after 30 s)."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the worker did not stop within 30 s of SIGTERM:\n{log.read_text()}")


async def test_a_worker_started_on_a_locked_billing_database_waits_then_starts(
    tmp_path: Path,
) -> None:
    database_path = sqlite_file(tmp_path / "billing.db", "wal")
    log = tmp_path / "worker.log"
    env = await start_time_skipping()
    waiting = f"Billing database sqlite:///{database_path} is not available (database is locked)"
    try:
        with ExclusiveLock(database_path) as lock:
            worker = start_worker(
                worker_env(tmp_path, database_path, env.client.service_client.config.target_host),
                log,
            )
            try:
                wait_for_log(worker, log, f"{waiting}; retrying in 1 s", timeout=15)
                wait_for_log(worker, log, f"{waiting}; retrying in 2 s", timeout=15)
                assert worker.poll() is None
                assert "WARNING store.db" in log.read_text()
                lock.release()
                wait_for_log(worker, log, "Worker polling task queue", timeout=20)
                assert f"Billing database sqlite:///{database_path} is available again" in (
                    log.read_text()
                )
                database = Database(f"sqlite:///{database_path}")
                with database.engine.connect() as connection:
                    migrated = connection.execute(
                        text("SELECT version_num FROM alembic_version")
                    ).scalar()
                database.dispose()
                assert migrated == ScriptDirectory.from_config(alembic_config()).get_current_head()
                assert stop_worker(worker, log) == 0, log.read_text()
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
    finally:
        await env.shutdown()
    assert "Stopping worker" in log.read_text()
    assert "Traceback" not in log.read_text()


def test_a_worker_waiting_for_its_billing_database_stops_on_sigterm(tmp_path: Path) -> None:
    """No Temporal server needed: the worker waits for its database before it connects."""
    database_path = sqlite_file(tmp_path / "billing.db", "delete")
    log = tmp_path / "worker.log"
    with ExclusiveLock(database_path):
        worker = start_worker(worker_env(tmp_path, database_path, "127.0.0.1:1"), log)
        try:
            wait_for_log(worker, log, "is not available (database is locked)", timeout=15)
            stopped_at = time.monotonic()
            assert stop_worker(worker, log) == 0, log.read_text()
            assert time.monotonic() - stopped_at < STARTUP_LOCK_WAIT_S + 3
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert "Traceback" not in log.read_text()
    assert "Worker polling" not in log.read_text()
    assert database_path.stat().st_size == 0  # never migrated
