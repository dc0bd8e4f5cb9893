"""Throwaway billing databases for tests: SQLite files and fresh PostgreSQL databases.

PostgreSQL is the local server on 127.0.0.1:5432 (user `postgres`, trust authentication). Each
database is created empty, named `termshift_test_<random hex>`, and dropped with FORCE afterwards.
"""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
