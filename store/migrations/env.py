"""Alembic environment of the billing database.

`store.db.Database.migrate()` hands over its open connection in `config.attributes["connection"]`.
From the alembic CLI (`alembic -c store/alembic.ini upgrade head`) the database is
`-x url=...`, else the application's (`TERMSHIFT_DATABASE_URL`, default the SQLite file in the data
folder).
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from store.db import Database
from store.models import Base

config = context.config


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_from_cli() -> None:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name)
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url is None:
        from termshift.settings import Settings

        url = Settings().billing_database_url()
    database = Database(url)
    try:
        with database.engine.begin() as connection:
            run_migrations(connection)
    finally:
        database.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported: run them against a database.")

shared_connection = config.attributes.get("connection")
if shared_connection is None:
    run_from_cli()
else:
    run_migrations(shared_connection)
