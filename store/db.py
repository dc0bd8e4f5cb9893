"""The billing database: an engine set up for SQLite or PostgreSQL, sessions and migrations."""

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK = 0x7465726D  # PostgreSQL advisory lock key ("term") held while migrating
_MEMORY = (None, "", ":memory:")  # what `URL.database` is for an in-memory SQLite database


def normalize_url(url: str) -> URL:
    """Parse a database URL; plain `postgresql://` (or `postgres://`) gets the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"Unsupported billing database {parsed.render_as_string()!r}: "
            "use a sqlite:/// path or a postgresql:// URL."
        )
    return parsed


def alembic_config() -> Config:
    """Alembic's configuration built in code, so migrating needs no alembic.ini at runtime."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


class Database:
    """One billing database: SQLite (a file, or `sqlite://` in memory) or PostgreSQL.

    SQLite connections enforce foreign keys, use the WAL journal (synced at checkpoints, not at
    every commit: a power cut may lose the last commits, never corrupt the file), wait up to 30 s
    for a lock, and begin every transaction with `BEGIN IMMEDIATE`: writers queue for the lock up
    front instead of failing when a read snapshot turns out stale. SQLite has one writer at a time,
    so the threads of one process take turns on a lock of their own: the next one starts as soon
    as the lock is free, instead of polling SQLite's busy handler, which sleeps between tries.
    Other processes still queue through the busy timeout. An in-memory database is one connection
    shared by every thread, and takes turns the same way.
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.in_memory = self.url.get_backend_name() == "sqlite" and self.url.database in _MEMORY
        self.engine = self._create_engine()
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        sqlite = self.url.get_backend_name() == "sqlite"
        self._turns = threading.RLock() if sqlite else None

    @property
    def redacted_url(self) -> str:
        """The URL with any password hidden, for logs and messages."""
        return self.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Database({self.redacted_url!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        with self._turn(), self._sessions.begin() as session:
            yield session

    def migrate(self) -> None:
        """Bring the schema to the latest revision (`alembic upgrade head`), in one transaction.

        Workers starting together take turns: PostgreSQL through an advisory lock, SQLite through
        `BEGIN IMMEDIATE`; whoever comes second finds the schema up to date.
        """
        config = alembic_config()
        with self._turn(), self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        """Close every pooled connection (an in-memory database is gone afterwards)."""
        self.engine.dispose()

    def _turn(self) -> AbstractContextManager[Any]:
        return self._turns if self._turns is not None else nullcontext()

    def _create_engine(self) -> Engine:
        if self.url.get_backend_name() == "postgresql":
            return create_engine(self.url, pool_pre_ping=True)
        if self.in_memory:
            engine = create_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            assert self.url.database is not None
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(self.url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", self._configure_sqlite)
        event.listen(engine, "begin", _begin_immediate)
        return engine

    def _configure_sqlite(self, dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy emit BEGIN (see `_begin_immediate`) instead of the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if not self.in_memory:
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()


def _enable_wal(cursor: Any) -> None:
    """Switch a file database to WAL. The switch needs the file to itself and, unlike other
    statements, does not wait for the busy timeout: processes opening a new file together retry."""
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if attempt == 99:
                raise
            time.sleep(0.05)


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
