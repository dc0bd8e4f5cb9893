"""Events (SPEC §7): the record of every effect, for other systems to read in order.

A new table, `events`: each row is written in the transaction of its effect. `position` orders all
of them (never reused: AUTOINCREMENT on SQLite) and is a consumer's cursor; `sequence` numbers one
contract's events without gaps; `id` is derived from the effect's key (`effect_key`, its audit
entry's), so it is unique and a retried effect cannot write it twice. Nothing stored before has
events: a contract's sequence starts with its first effect after this revision.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID_LENGTH = 64
EVENT_ID_LENGTH = 40
TYPES = (
    "contract.created",
    "contract.started",
    "contract.change_scheduled",
    "contract.change_cleared",
    "contract.cancellation_scheduled",
    "contract.cancellation_cleared",
    "contract.switched",
    "contract.ended",
    "contract.frozen",
    "contract.unfrozen",
    "contract.price_scheduled",
    "contract.renewal_upcoming",
    "contract.renewed",
    "invoice.issued",
    "deposit.charged",
    "deposit.refunded",
    "command.refused",
)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("id", sa.String(length=EVENT_ID_LENGTH), nullable=False),
        sa.Column("effect_key", sa.String(length=255), nullable=False),
        sa.Column("contract_id", sa.String(length=ID_LENGTH), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),
        sa.UniqueConstraint("contract_id", "sequence", name=op.f("uq_events_contract_id_sequence")),
        sa.CheckConstraint(
            f"type IN ({', '.join(repr(kind) for kind in TYPES)})", name=op.f("ck_events_type")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_events_type_position"), "events", ["type", "position"])


def downgrade() -> None:
    """Refused while events are recorded: the schema before has nowhere to keep them, and the
    consumers that read them by position would lose what they have not read yet."""
    recorded = op.get_bind().scalar(sa.text("SELECT COUNT(*) FROM events"))
    if recorded:
        raise RuntimeError(
            f"Cannot downgrade from 0004: {recorded} event(s) are recorded, and the schema before "
            "has nowhere to keep them. Keep this revision (upgrade to head again)."
        )
    op.drop_index(op.f("ix_events_type_position"), table_name="events")
    op.drop_table("events")
