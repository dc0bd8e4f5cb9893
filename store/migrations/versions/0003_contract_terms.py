"""Contract terms (§3b): a plan's terms, a contract's commitment end, `early_termination` lines.

Plans gain their terms (R14–R17): `notice` and `minimum_term` (spans such as "12 months"),
`renewal` (`rolling`, `renew` or `end`) and the freeze limits; a plan stored before has none
(null, and `rolling`). Contracts gain `commitment_end` (R15), a state column for queries; the
contracts stored before have none. Invoice lines may be `early_termination` (R15).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPAN_LENGTH = 32
RENEWALS = ("rolling", "renew", "end")
LINE_KINDS = ("plan", "proration_credit", "deposit", "deposit_refund")
EARLY_TERMINATION = "early_termination"
TERM_COLUMNS = ("notice", "minimum_term", "renewal", "max_freeze_cycles", "max_freezes_per_year")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _replace_kind_check(condition: str) -> None:
    """The kinds of invoice lines: PostgreSQL alters the constraint in place, SQLite rebuilds
    the table (Alembic's batch mode); no table points at invoice lines, so the rebuild needs no
    other table to step aside."""
    with op.batch_alter_table("invoice_lines") as batch:
        batch.drop_constraint(op.f("ck_invoice_lines_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_invoice_lines_kind"), condition)


def upgrade() -> None:
    # Added in place on both backends (SQLite's ADD COLUMN takes the CHECK along): rebuilding
    # `plans` on SQLite would have every contract, and what points at them, step aside.
    op.add_column("plans", sa.Column("notice", sa.String(length=SPAN_LENGTH), nullable=True))
    op.add_column("plans", sa.Column("minimum_term", sa.String(length=SPAN_LENGTH), nullable=True))
    op.add_column(
        "plans",
        sa.Column(
            "renewal",
            sa.String(length=16),
            sa.CheckConstraint(_one_of("renewal", RENEWALS), name=op.f("ck_plans_renewal")),
            server_default=RENEWALS[0],
            nullable=False,
        ),
    )
    op.add_column("plans", sa.Column("max_freeze_cycles", sa.Integer(), nullable=True))
    op.add_column("plans", sa.Column("max_freezes_per_year", sa.Integer(), nullable=True))
    op.add_column("contracts", sa.Column("commitment_end", sa.Date(), nullable=True))
    op.create_index(op.f("ix_contracts_commitment_end"), "contracts", ["commitment_end"])
    _replace_kind_check(_one_of("kind", (*LINE_KINDS, EARLY_TERMINATION)))


def downgrade() -> None:
    """Refused while `early_termination` lines exist: they are invoices already issued, which
    the schema before cannot hold. The terms of plans and the commitment ends are dropped (the
    contracts' snapshots keep theirs)."""
    issued = op.get_bind().scalar(
        sa.text("SELECT COUNT(*) FROM invoice_lines WHERE kind = :kind"),
        {"kind": EARLY_TERMINATION},
    )
    if issued:
        raise RuntimeError(
            f"Cannot downgrade from 0003: {issued} invoice line(s) of kind "
            f"{EARLY_TERMINATION!r} were issued, and the schema before cannot hold them. "
            "Keep this revision (upgrade to head again)."
        )
    _replace_kind_check(_one_of("kind", LINE_KINDS))
    op.drop_index(op.f("ix_contracts_commitment_end"), table_name="contracts")
    op.drop_column("contracts", "commitment_end")
    for column in reversed(TERM_COLUMNS):
        op.drop_column("plans", column)
