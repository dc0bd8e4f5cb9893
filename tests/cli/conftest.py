"""Fixtures of the CLI tests: one dev server per module, the CLI with a worker behind it."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.cli import Cli, cli_on
from tests.support.databases import sqlite_url
from tests.support.temporal import start_dev_server


@pytest.fixture(scope="module")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    yield env
    await env.shutdown()


@pytest.fixture
async def cli(
    dev_env: WorkflowEnvironment, tmp_path: Path, database_url: str
) -> AsyncIterator[Cli]:
    """The CLI with a worker, on SQLite and on PostgreSQL."""
    async with cli_on(dev_env, tmp_path, database_url) as runner:
        yield runner


@pytest.fixture
async def sqlite_cli(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Cli]:
    """The CLI with a worker on SQLite: for refusals, which never reach the database's engine."""
    async with cli_on(dev_env, tmp_path, sqlite_url(tmp_path)) as runner:
        yield runner
