"""Initial schema: locations, plans, customers, contracts, invoices, deposits and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from store.types import Money, UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
    )
    op.create_table(
        "plans",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("price", Money(), nullable=False),
        sa.Column("every", sa.String(length=32), nullable=False),
        sa.Column("deposit", Money(), nullable=False),
        sa.Column("prorate_first_invoice", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_plans_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_plans")),
    )
    op.create_index(op.f("ix_plans_location_id"), "plans", ["location_id"])
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_customers_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_index(op.f("ix_customers_location_id"), "customers", ["location_id"])
    op.create_table(
        "contracts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("location_id", sa.String(length=64), nullable=False),
        sa.Column("plan_code", sa.String(length=64), nullable=False),
        sa.Column("price", Money(), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("anchor", sa.Date(), nullable=False),
        sa.Column("prorate_first_invoice", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_invoice_date", sa.Date(), nullable=True),
        sa.Column("billed_from", sa.Date(), nullable=True),
        sa.Column("billed_through", sa.Date(), nullable=True),
        sa.Column("cancellation_date", sa.Date(), nullable=True),
        sa.Column("cancellation_prorate", sa.Boolean(), nullable=True),
        sa.Column("next_plan_code", sa.String(length=64), nullable=True),
        sa.Column("cancel_at_next_invoice", sa.Boolean(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("replaces_id", sa.String(length=64), nullable=True),
        sa.Column("successor_id", sa.String(length=64), nullable=True),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('inactive', 'active', 'cancelled')", name=op.f("ck_contracts_status")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_contracts_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_contracts_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["plan_code"], ["plans.code"], name=op.f("fk_contracts_plan_code_plans")
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["contracts.id"], name=op.f("fk_contracts_replaces_id_contracts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("replaces_id", name=op.f("uq_contracts_replaces_id")),
    )
    op.create_index(op.f("ix_contracts_customer_id"), "contracts", ["customer_id"])
    op.create_index(op.f("ix_contracts_location_id"), "contracts", ["location_id"])
    op.create_index(op.f("ix_contracts_plan_code"), "contracts", ["plan_code"])
    op.create_index(op.f("ix_contracts_status"), "contracts", ["status"])
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("contract_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", Money(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name=op.f("fk_invoices_contract_id_contracts")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_invoices_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.CheckConstraint("purpose IN ('period', 'closing')", name=op.f("ck_invoices_purpose")),
        sa.UniqueConstraint(
            "contract_id",
            "issue_date",
            "purpose",
            name=op.f("uq_invoices_contract_id_issue_date_purpose"),
        ),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
    )
    op.create_index(op.f("ix_invoices_customer_id"), "invoices", ["customer_id"])
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('plan', 'proration_credit', 'deposit', 'deposit_refund')",
            name=op.f("ck_invoice_lines_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name=op.f("fk_invoice_lines_contract_id_contracts")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint(
            "contract_id",
            "period_start",
            "kind",
            name=op.f("uq_invoice_lines_contract_id_period_start_kind"),
        ),
    )
    op.create_index(op.f("ix_invoice_lines_invoice_id"), "invoice_lines", ["invoice_id"])
    op.create_table(
        "deposit_movements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("contract_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('charge', 'transfer_in', 'transfer_out', 'refund')",
            name=op.f("ck_deposit_movements_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"],
            ["contracts.id"],
            name=op.f("fk_deposit_movements_contract_id_contracts"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_deposit_movements_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_deposit_movements_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposit_movements")),
        sa.UniqueConstraint(
            "contract_id", "kind", name=op.f("uq_deposit_movements_contract_id_kind")
        ),
    )
    op.create_index(op.f("ix_deposit_movements_customer_id"), "deposit_movements", ["customer_id"])
    op.create_index(op.f("ix_deposit_movements_invoice_id"), "deposit_movements", ["invoice_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("command", sa.String(length=64), nullable=False),
        sa.Column("contract_id", sa.String(length=64), nullable=True),
        sa.Column("effect", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("key", name=op.f("uq_audit_log_key")),
    )
    op.create_index(op.f("ix_audit_log_contract_id"), "audit_log", ["contract_id"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "deposit_movements",
        "invoice_lines",
        "invoices",
        "contracts",
        "customers",
        "plans",
        "locations",
    ):
        op.drop_table(table)
