"""The Database: URLs, SQLite connection settings, in-memory sharing and transactions."""

import threading
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from store import repository
from store.db import Database, alembic_config, normalize_url
from tests.store.conftest import GENEVA


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///data/termshift.db", "sqlite:///data/termshift.db"),
        ("sqlite://", "sqlite://"),
    ],
)
def test_urls_are_normalized(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string() == expected


def test_other_backends_are_refused() -> None:
    with pytest.raises(ValueError, match="Unsupported billing database"):
        normalize_url("mysql://u@h/db")


def test_redacted_url_hides_the_password() -> None:
    database = Database("postgresql://termshift:s3cret@db.example:5432/billing")
    assert "s3cret" not in database.redacted_url
    assert "s3cret" not in repr(database)
    assert database.redacted_url == "postgresql+psycopg://termshift:***@db.example:5432/billing"
    database.dispose()


def test_sqlite_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "folder" / "billing.db"
    database = Database(f"sqlite:///{path}")
    with database.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA busy_timeout").scalar() == 30_000
    assert path.parent.is_dir()
    database.dispose()


def test_in_memory_database_is_shared_across_threads() -> None:
    database = Database("sqlite://")
    database.migrate()
    with database.session() as session:
        repository.add_location(session, GENEVA)
    seen: list[object] = []

    def read() -> None:
        with database.session() as session:
            seen.extend(repository.list_locations(session))

    reader = threading.Thread(target=read)
    reader.start()
    reader.join()
    assert seen == [GENEVA]
    database.dispose()


def test_session_commits_on_success(database: Database) -> None:
    with database.session() as session:
        repository.add_location(session, GENEVA)
    with database.session() as session:
        assert repository.get_location(session, "geneva") == GENEVA


def test_session_rolls_back_on_error(database: Database) -> None:
    def add_then_fail() -> None:
        with database.session() as session:
            repository.add_location(session, GENEVA)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        add_then_fail()
    with database.session() as session:
        assert repository.list_locations(session) == []


def test_migrate_is_repeatable(database: Database) -> None:
    database.migrate()
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            ScriptDirectory.from_config(alembic_config()).get_current_head()
        )


def test_workers_starting_together_migrate_once(database_url: str) -> None:
    databases = [Database(database_url) for _ in range(3)]
    start = threading.Barrier(len(databases))
    errors: list[Exception] = []

    def migrate(database: Database) -> None:
        start.wait()
        try:
            database.migrate()
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=migrate, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with databases[0].session() as session:
        assert repository.list_locations(session) == []
    for database in databases:
        database.dispose()
