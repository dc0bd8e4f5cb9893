"""Bulk jobs (SPEC §8): a job's command and selection, each contract's answer, and the job id on
every audit entry a job's command wrote.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID_LENGTH = 64


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("job_id", sa.String(length=ID_LENGTH), nullable=True))
        batch.create_index(op.f("ix_audit_log_job_id"), ["job_id"])
    op.create_table(
        "bulk_jobs",
        sa.Column("id", sa.String(length=ID_LENGTH), nullable=False),
        sa.Column("command", sa.String(length=64), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("selection", sa.Text(), nullable=False),
        sa.Column("selection_json", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_jobs")),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'cancelled')", name=op.f("ck_bulk_jobs_status")
        ),
    )
    op.create_table(
        "bulk_items",
        sa.Column("job_id", sa.String(length=ID_LENGTH), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=ID_LENGTH), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["bulk_jobs.id"], name=op.f("fk_bulk_items_job_id_bulk_jobs")
        ),
        sa.PrimaryKeyConstraint("job_id", "position", name=op.f("pk_bulk_items")),
        sa.UniqueConstraint("job_id", "contract_id", name=op.f("uq_bulk_items_job_id_contract_id")),
        sa.CheckConstraint(
            "outcome IN ('applied', 'refused', 'skipped')", name=op.f("ck_bulk_items_outcome")
        ),
    )


def downgrade() -> None:
    op.drop_table("bulk_items")
    op.drop_table("bulk_jobs")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index(op.f("ix_audit_log_job_id"))
        batch.drop_column("job_id")
