"""A billing database that is not available yet: which errors are worth waiting for, and the wait.

A worker migrates as it starts (`Database.migrate_when_available`). A SQLite file locked by
another process or a PostgreSQL server that refuses connections passes: the worker says so and
tries again. A bad URL, wrong credentials or a schema that does not migrate never pass: raised at
once. Everything here runs on real databases: a SQLite file another connection holds under
`BEGIN EXCLUSIVE`, a port nothing listens on, the local PostgreSQL server.
"""

import asyncio
import logging
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from store.db import STARTUP_LOCK_WAIT_S, Database, alembic_config, unavailable_reason
from tests.support.databases import (
    ExclusiveLock,
    PostgresUnavailable,
    postgres_database,
    sqlite_file,
)

REFUSED = "postgresql://termshift@127.0.0.1:1/termshift"  # nothing listens on port 1


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        found: str | None = connection.execute(
            text("SELECT version_num FROM alembic_version")
        ).scalar()
        return found


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "store.db" and record.levelno == logging.WARNING
    ]


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_a_locked_sqlite_file_is_worth_waiting_for(tmp_path: Path, journal_mode: str) -> None:
    """Locked before the connection is set up (a new file) or when the migration begins (WAL):
    either way the lock wait is the short one asked for, not the 30 s of a running worker."""
    path = sqlite_file(tmp_path / "billing.db", journal_mode)
    database = Database(f"sqlite:///{path}")
    started = time.monotonic()
    with ExclusiveLock(path), pytest.raises(OperationalError) as caught:
        database.migrate(lock_wait_s=0.5)
    assert time.monotonic() - started < 5
    assert unavailable_reason(caught.value) == "database is locked"
    database.dispose()


def test_a_refused_postgresql_connection_is_worth_waiting_for() -> None:
    database = Database(REFUSED)
    with pytest.raises(OperationalError) as caught:
        database.migrate(lock_wait_s=0.5)
    reason = unavailable_reason(caught.value)
    assert reason is not None
    assert "Connection refused" in reason
    assert not reason.startswith("connection failed")
    database.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("wrong", ["database", "role"])
def test_wrong_postgresql_settings_are_not_waited_for(wrong: str) -> None:
    try:
        with postgres_database() as url:
            if wrong == "database":
                database = Database(f"{url}_missing")
            else:
                database = Database(url.replace("postgres@", "nobody_here@"))
            with pytest.raises(OperationalError) as caught:
                database.migrate(lock_wait_s=0.5)
            database.dispose()
    except PostgresUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    assert "does not exist" in str(caught.value)
    assert unavailable_reason(caught.value) is None


def test_other_errors_are_not_waited_for() -> None:
    assert unavailable_reason(ValueError("Unsupported billing database 'mysql://u@h/db'")) is None
    with (
        closing(sqlite3.connect(":memory:")) as connection,
        pytest.raises(sqlite3.OperationalError) as caught,  # SQLite's class for many errors
    ):
        connection.execute("SELECT * FROM contracts")
    assert unavailable_reason(caught.value) is None


async def test_a_schema_that_does_not_migrate_fails_at_once(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(database_url)
    with database.engine.begin() as connection:  # a table in the way, with no alembic_version
        connection.execute(text("CREATE TABLE locations (id INTEGER)"))
    caplog.set_level(logging.INFO, logger="store.db")
    with pytest.raises(DBAPIError) as caught:
        async with asyncio.timeout(10):
            await database.migrate_when_available(asyncio.Event())
    assert "already exists" in str(caught.value)
    assert unavailable_reason(caught.value) is None
    assert warnings(caplog) == []
    database.dispose()


async def test_the_start_waits_for_the_lock_then_migrates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = sqlite_file(tmp_path / "billing.db", "wal")
    database = Database(f"sqlite:///{path}")
    caplog.set_level(logging.INFO, logger="store.db")
    with ExclusiveLock(path) as lock:

        async def release_once_reported() -> None:
            while not warnings(caplog):
                await asyncio.sleep(0.05)
            lock.release()

        releasing = asyncio.create_task(release_once_reported())
        async with asyncio.timeout(STARTUP_LOCK_WAIT_S * 2 + 10):
            assert await database.migrate_when_available(asyncio.Event())
        await releasing
    assert warnings(caplog) == [
        f"Billing database sqlite:///{path} is not available (database is locked); retrying in 1 s"
    ]
    assert f"Billing database sqlite:///{path} is available again" in caplog.messages
    assert revision(database) == head_revision()
    database.dispose()


async def test_the_wait_backs_off_and_ends_when_stopped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = sqlite_file(tmp_path / "billing.db", "delete")
    database = Database(f"sqlite:///{path}")
    caplog.set_level(logging.INFO, logger="store.db")
    stop = asyncio.Event()
    with ExclusiveLock(path):
        waiting = asyncio.create_task(database.migrate_when_available(stop))
        async with asyncio.timeout((STARTUP_LOCK_WAIT_S + 2) * 3):
            while len(warnings(caplog)) < 2:
                await asyncio.sleep(0.05)
        stop.set()  # during the 2 s before the third try
        async with asyncio.timeout(1):
            assert await waiting is False
    assert [message.rsplit("; ", 1)[1] for message in warnings(caplog)] == [
        "retrying in 1 s",
        "retrying in 2 s",
    ]
    assert "available again" not in caplog.text
    assert path.stat().st_size == 0  # nothing was written
    database.dispose()


async def test_a_refused_postgresql_server_is_waited_for_until_stopped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = Database("postgresql://termshift:S3cret@127.0.0.1:1/termshift")
    caplog.set_level(logging.INFO, logger="store.db")
    stop = asyncio.Event()
    waiting = asyncio.create_task(database.migrate_when_available(stop))
    async with asyncio.timeout(10):
        while not warnings(caplog):
            await asyncio.sleep(0.05)
    stop.set()
    async with asyncio.timeout(1):
        assert await waiting is False
    (warning,) = warnings(caplog)
    assert warning.startswith(
        "Billing database postgresql+psycopg://termshift:***@127.0.0.1:1/termshift is not "
        "available (connection to server at"
    )
    assert warning.endswith("Connection refused); retrying in 1 s")
    assert "S3cret" not in caplog.text
    database.dispose()
