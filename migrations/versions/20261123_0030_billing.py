"""Billing: accounts and invoices behind tenant RLS; Stripe events processed once.

The webhook resolves a tenant from a Stripe customer id with no tenant set, so the
SYSTEM scope may SELECT billing accounts (and nothing else); every write happens
inside the tenant's own context. Stripe events carry no tenant data beyond the id
they were resolved to: a tenant sees its own, the SYSTEM scope sees all.

Revision ID: 0030_billing
Revises: 0020_ledger
Create Date: 2026-11-23 18:14:18.406868
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core import rls

revision = "0030_billing"
down_revision = "0020_ledger"
branch_labels = None
depends_on = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    op.create_table(
        "billing_account",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "plan",
            sa.Enum(
                "trial",
                "clinic",
                "enterprise",
                name="billing_plan",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("subscription_status", sa.String(length=32), nullable=True),
        sa.Column("current_period_end", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("past_due_since", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("suspended_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_billing_account_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_billing_account")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_billing_account_tenant_id")),
    )
    with op.batch_alter_table("billing_account", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_account_stripe_customer_id", ["stripe_customer_id"], unique=False
        )

    op.create_table(
        "billing_invoice",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(length=255), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("hosted_invoice_url", sa.Text(), nullable=True),
        sa.Column("period_start", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_billing_invoice_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_billing_invoice")),
        sa.UniqueConstraint(
            "tenant_id",
            "stripe_invoice_id",
            name=op.f("uq_billing_invoice_tenant_id_stripe_invoice_id"),
        ),
    )
    with op.batch_alter_table("billing_invoice", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_invoice_tenant_created", ["tenant_id", "created"], unique=False
        )

    op.create_table(
        "stripe_event",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("received_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_stripe_event_tenant_id_tenant")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_event")),
    )

    if _postgres():
        for table in ("billing_account", "billing_invoice"):
            for statement in rls.tenant_isolation(table):
                op.execute(statement)
        # The webhook maps a Stripe customer to its tenant, and the grace job finds
        # delinquent tenants: reads only; writes go through the tenant's own context.
        op.execute(rls.scope_policy("billing_account", "system", "SELECT"))
        op.execute("ALTER TABLE stripe_event ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE stripe_event FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY stripe_event_access ON stripe_event USING "
            "(tenant_id = app_tenant_id() OR app_scope() = 'system') WITH CHECK "
            "(tenant_id = app_tenant_id() OR app_scope() = 'system')"
        )


def downgrade():
    op.drop_table("stripe_event")
    with op.batch_alter_table("billing_invoice", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_invoice_tenant_created")
    op.drop_table("billing_invoice")
    with op.batch_alter_table("billing_account", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_account_stripe_customer_id")
    op.drop_table("billing_account")
