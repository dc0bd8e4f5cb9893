"""The admin CLI run as a user runs it (`starter.py` in a subprocess) with a worker behind it."""

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from store.db import Database
from termshift.cli.app import app
from termshift.settings import Settings
from termshift.worker import build_bulk_worker
from tests.support.temporal import new_task_queue, running_worker

ROOT = Path(__file__).resolve().parents[2]
SEED_TIMEZONE = "Europe/Berlin"
"""The timezone of the location `seed` adds: the calendar its contracts' dates are in."""


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    env: dict[str, str]

    async def __call__(self, *args: str) -> Result:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "starter.py",
            *args,
            cwd=ROOT,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode is not None
        return Result(process.returncode, out.decode(), err.decode())


@dataclass
class InProcess:
    """`starter.py` run in this process (the worker runs on this loop, so in a thread)."""

    env: dict[str, str]

    async def __call__(self, *args: str) -> Result:
        return await asyncio.to_thread(self._invoke, list(args))

    def _invoke(self, args: list[str]) -> Result:
        result = CliRunner(env=self.env).invoke(app, args, catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"`{' '.join(args)[:200]}` raised") from result.exception
        return Result(result.exit_code, result.stdout, result.stderr)


@asynccontextmanager
async def cli_on(
    dev_env: WorkflowEnvironment, tmp_path: Path, database_url: str
) -> AsyncIterator[Cli]:
    database = Database(database_url)
    database.migrate()
    task_queue = new_task_queue()
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": "default",
        "TERMSHIFT_DATABASE_URL": database_url,
        "TERMSHIFT_TASK_QUEUE": task_queue,
        "TERMSHIFT_BULK_TASK_QUEUE": f"{task_queue}-bulk",
        "TERMSHIFT_DATA_DIR": str(tmp_path),
        "COLUMNS": "200",
    }
    bulk_worker = build_bulk_worker(
        dev_env.client,
        database,
        settings=Settings(bulk_task_queue=f"{task_queue}-bulk"),
        strict_sandbox=True,
    )
    async with running_worker(dev_env.client, database, task_queue), bulk_worker:
        yield Cli(env)
    database.dispose()


async def seed(cli: Cli) -> None:
    for args in (
        ("locations", "add", "berlin", "--name", "Berlin Mitte", "--timezone", SEED_TIMEZONE,
         "--currency", "EUR"),
        ("plans", "add", "hot-desk", "--location", "berlin", "--name", "Hot desk",
         "--price", "1500.00", "--deposit", "200"),
        ("plans", "add", "fixed", "--location", "berlin", "--name", "Fixed desk",
         "--price", "900.00", "--no-prorate-first-invoice"),
        ("customers", "add", "ada", "--location", "berlin", "--name", "Ada Lovelace",
         "--email", "ada@example.com"),
    ):  # fmt: skip
        result = await cli(*args, "--reason", "setup")
        assert result.code == 0, result.err
