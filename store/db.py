"""The billing database: an engine set up for SQLite or PostgreSQL, sessions and migrations."""

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK = 0x7465726D  # PostgreSQL advisory lock key ("term") held while migrating
_MEMORY = (None, "", ":memory:")  # what `URL.database` is for an in-memory SQLite database

STARTUP_LOCK_WAIT_S = 2.0
"""How long a start-up migration waits for SQLite's lock before it says so and tries again."""
STARTUP_CONNECT_TIMEOUT_S = 10
"""How long a start-up migration waits for a PostgreSQL connection (libpq's `connect_timeout`)."""
RETRY_FIRST_DELAY_S = 1.0
RETRY_MAX_DELAY_S = 30.0
"""Between start-up tries: 1 s, then twice as long each time, at most 30 s."""

_SQLITE_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_POSTGRES_MISCONFIGURED = (
    "authentication failed",
    "no pg_hba.conf entry",
    "does not exist",  # the database or the role
    "permission denied",
    "failed to resolve host",
    "could not translate host name",
    "connection is bad",  # libpq refused the connection parameters
)
"""What PostgreSQL or libpq says when a connection fails for a reason waiting does not fix."""
_POSTGRES_TRANSIENT_SQLSTATES = ("08", "53", "55P03", "57")
"""SQLSTATEs (classes, or one code) of errors that pass: the connection lost, resources exhausted
(too many connections), a lock not available, the server shutting down or starting up."""

log = logging.getLogger(__name__)


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


def unavailable_reason(error: BaseException) -> str | None:
    """Why the database cannot be used right now, when waiting may fix it; None for other errors.

    Waiting helps when SQLite's file is locked by another process, or when PostgreSQL does not
    answer, refuses connections for now, or drops them. It does not help with a bad URL, wrong
    credentials, a missing database or a migration that fails on the schema: those are None.
    """
    cause = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(cause, sqlite3.OperationalError):
        # Extended codes (SQLITE_BUSY_SNAPSHOT, …) keep the primary code in the low byte.
        busy = getattr(cause, "sqlite_errorcode", 0) & 0xFF in _SQLITE_BUSY_CODES
        return str(cause) if busy else None
    if not isinstance(cause, psycopg.OperationalError):
        return None
    text = str(cause).strip()
    first_line = text.splitlines()[0] if text else type(cause).__name__
    if cause.sqlstate is not None:
        transient = cause.sqlstate.startswith(_POSTGRES_TRANSIENT_SQLSTATES)
        return first_line if transient else None
    # A connection that failed carries no SQLSTATE: only its message says why.
    if any(words in text for words in _POSTGRES_MISCONFIGURED):
        return None
    return first_line.removeprefix("connection failed: ")


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
        self.engine = self._create_engine(lock_wait_s=SQLITE_BUSY_TIMEOUT_MS / 1000)
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

    def migrate(self, *, lock_wait_s: float | None = None) -> None:
        """Bring the schema to the latest revision (`alembic upgrade head`), in one transaction.

        Workers starting together take turns: PostgreSQL through an advisory lock, SQLite through
        `BEGIN IMMEDIATE`; whoever comes second finds the schema up to date. `lock_wait_s` waits
        that long for SQLite's lock (and `STARTUP_CONNECT_TIMEOUT_S` for a PostgreSQL connection)
        instead of the usual 30 s, on connections of their own that are closed afterwards.
        """
        config = alembic_config()
        engine = self.engine
        if lock_wait_s is not None and not self.in_memory:
            engine = self._create_engine(
                lock_wait_s=lock_wait_s, connect_timeout_s=STARTUP_CONNECT_TIMEOUT_S
            )
        try:
            with self._turn(), engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        finally:
            if engine is not self.engine:
                engine.dispose()

    async def migrate_when_available(self, stop: asyncio.Event) -> bool:
        """Migrate as a worker starts, waiting as long as the database is unavailable.

        While it is (`unavailable_reason`), says so at WARNING and tries again, 1 s after the
        first failure, then twice as long each time up to 30 s; each try waits a short
        while for the lock or the connection, so the first warning comes within seconds. Any
        other error is raised at once. Returns False when `stop` is set before it has migrated.
        """
        delay = RETRY_FIRST_DELAY_S
        waited = False
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.migrate, lock_wait_s=STARTUP_LOCK_WAIT_S)
            except Exception as error:
                reason = unavailable_reason(error)
                if reason is None:
                    raise
                if stop.is_set():
                    break
                log.warning(
                    "Billing database %s is not available (%s); retrying in %.0f s",
                    self.redacted_url,
                    reason,
                    delay,
                )
                waited = True
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, RETRY_MAX_DELAY_S)
            else:
                if waited:
                    log.info("Billing database %s is available again", self.redacted_url)
                return not stop.is_set()
        return False

    def dispose(self) -> None:
        """Close every pooled connection (an in-memory database is gone afterwards)."""
        self.engine.dispose()

    def _turn(self) -> AbstractContextManager[Any]:
        return self._turns if self._turns is not None else nullcontext()

    def _create_engine(self, *, lock_wait_s: float, connect_timeout_s: int | None = None) -> Engine:
        if self.url.get_backend_name() == "postgresql":
            connect_args = (
                {} if connect_timeout_s is None else {"connect_timeout": connect_timeout_s}
            )
            return create_engine(self.url, pool_pre_ping=True, connect_args=connect_args)
        if self.in_memory:
            engine = create_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            assert self.url.database is not None
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(self.url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", self._sqlite_configurer(lock_wait_s))
        event.listen(engine, "begin", _begin_immediate)
        return engine

    def _sqlite_configurer(self, lock_wait_s: float) -> Callable[[Any, ConnectionPoolEntry], None]:
        def configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            # Let SQLAlchemy emit BEGIN (see `_begin_immediate`) instead of the sqlite3 module.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {round(lock_wait_s * 1000)}")
            if not self.in_memory:
                _enable_wal(cursor, lock_wait_s)
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

        return configure


def _enable_wal(cursor: Any, lock_wait_s: float) -> None:
    """Switch a file database to WAL. The switch needs the file to itself, and SQLite may refuse
    it at once instead of waiting for the busy timeout (processes opening a new file together):
    it is tried again until the lock wait is over."""
    deadline = time.monotonic() + lock_wait_s
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
