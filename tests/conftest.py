"""Database fixtures: every test that uses them runs on SQLite and on PostgreSQL."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from store.db import Database
from tests.support.databases import PostgresUnavailable, postgres_database, sqlite_url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty billing database: a temporary SQLite file, or a fresh PostgreSQL database
    (dropped afterwards). PostgreSQL being down fails the test: it is required, not optional."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    try:
        with postgres_database() as url:
            yield url
    except PostgresUnavailable as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated billing database."""
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()
