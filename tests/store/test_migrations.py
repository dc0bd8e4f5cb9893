"""The migrations build exactly the schema the models describe, in code and from the CLI."""

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from store.db import Database, alembic_config
from store.models import Base

STORE = Path(__file__).resolve().parents[2] / "store"


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_downgrade_removes_every_table(database: Database) -> None:
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(database.engine).get_table_names()) == {"alembic_version"}
    database.migrate()
    assert set(inspect(database.engine).get_table_names()) > set(Base.metadata.tables)


def test_alembic_cli_upgrades_and_checks(database_url: str) -> None:
    options = ["-x", f"url={database_url}"]

    def alembic(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(STORE / "alembic.ini"), *options, *args],
            check=True,
            capture_output=True,
        )

    alembic("upgrade", "head")
    alembic("check")
    database = Database(database_url)
    assert set(inspect(database.engine).get_table_names()) >= set(Base.metadata.tables)
    database.dispose()
