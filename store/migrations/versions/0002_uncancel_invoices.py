"""Invoices of an undone cancellation: purpose `uncancel` (R7).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSTRAINT = "ck_invoices_purpose"


def _purposes(*purposes: str) -> str:
    return f"purpose IN ({', '.join(repr(purpose) for purpose in purposes)})"


REFERRING = ("invoice_lines", "deposit_movements")
"""The tables whose rows point at invoices."""


def _replace_check(condition: str) -> None:
    """PostgreSQL alters the constraint in place; SQLite rebuilds the table (Alembic's batch
    mode). Dropping the old table would break the rows that point at it, and SQLite checks that
    even for deferred keys, so they step aside meanwhile, in this same transaction."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for table in REFERRING:
            op.execute(f"CREATE TEMP TABLE kept_{table} AS SELECT * FROM {table}")
            op.execute(f"DELETE FROM {table}")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(CONSTRAINT), condition)
    if sqlite:
        for table in REFERRING:
            op.execute(f"INSERT INTO {table} SELECT * FROM kept_{table}")
            op.execute(f"DROP TABLE kept_{table}")


def upgrade() -> None:
    _replace_check(_purposes("period", "closing", "uncancel"))


def downgrade() -> None:
    op.execute(
        "DELETE FROM invoice_lines WHERE invoice_id IN "
        "(SELECT id FROM invoices WHERE purpose = 'uncancel')"
    )
    op.execute("DELETE FROM invoices WHERE purpose = 'uncancel'")
    _replace_check(_purposes("period", "closing"))
