"""Throwaway billing databases for tests: SQLite files and fresh PostgreSQL databases.

PostgreSQL is the local server on 127.0.0.1:5432 (user `postgres`, trust authentication). Each
database is created empty, named `termshift_test_<random hex>`, and dropped with FORCE afterwards.
"""

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_USER = "postgres"
MAINTENANCE_DATABASES = ("postgres", "test")
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


class PostgresUnavailable(RuntimeError):
    """The local PostgreSQL server cannot be reached."""


def sqlite_url(folder: Path, name: str = "billing.db") -> str:
    return f"sqlite:///{folder / name}"


def sqlite_file(path: Path, journal_mode: str) -> Path:
    """An empty SQLite database at `path` in `journal_mode`: `delete` is a file no worker has
    opened yet (SQLite's default), `wal` one a worker has (it switches every file to WAL)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute(f"PRAGMA journal_mode = {journal_mode}")
    finally:
        connection.close()
    return path


class ExclusiveLock:
    """Another connection holding a SQLite file under `BEGIN EXCLUSIVE`, as an open
    `sqlite3 FILE 'BEGIN EXCLUSIVE;'` does: nobody else writes it (nor reads it, unless in WAL)."""

    def __init__(self, path: Path) -> None:
        self._connection: sqlite3.Connection | None = sqlite3.connect(path, isolation_level=None)
        self._connection.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        """Roll back and close; once released, again does nothing."""
        if self._connection is not None:
            self._connection.execute("ROLLBACK")
            self._connection.close()
            self._connection = None

    def __enter__(self) -> "ExclusiveLock":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def postgres_url(database: str) -> str:
    return f"postgresql://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"


def _maintenance_connection() -> psycopg.Connection[tuple[object, ...]]:
    failures: list[str] = []
    for database in MAINTENANCE_DATABASES:
        try:
            return psycopg.connect(
                host=POSTGRES_HOST,
                port=POSTGRES_PORT,
                user=POSTGRES_USER,
                dbname=database,
                autocommit=True,
                connect_timeout=5,
            )
        except psycopg.OperationalError as error:
            failures.append(str(error).splitlines()[0])
    raise PostgresUnavailable(
        f"PostgreSQL is not reachable on {POSTGRES_HOST}:{POSTGRES_PORT} as {POSTGRES_USER} "
        f"({failures[0]}). Start it with: {START_POSTGRES}"
    )


def create_postgres_database(prefix: str = "termshift_test") -> str:
    """Create an empty database with a random name; return its URL."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with _maintenance_connection() as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return postgres_url(name)


def drop_postgres_database(url: str) -> None:
    """Drop the database of `url`, disconnecting whoever still uses it."""
    name = url.rsplit("/", 1)[1]
    with _maintenance_connection() as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def postgres_database(prefix: str = "termshift_test") -> Iterator[str]:
    """A fresh PostgreSQL database for the duration of the block; yields its URL."""
    url = create_postgres_database(prefix)
    try:
        yield url
    finally:
        drop_postgres_database(url)
