"""Venues, behind tenant row-level security; reviewers may read them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:05:03.689143
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core import rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "venue",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("province", sa.String(length=100), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("district", sa.String(length=100), nullable=True),
        sa.Column("latitude", sa.Numeric(precision=9, scale=6), nullable=True),
        sa.Column("longitude", sa.Numeric(precision=9, scale=6), nullable=True),
        sa.Column("opening_hours", sa.JSON(), nullable=False),
        sa.Column("timezone", sa.String(length=40), nullable=False),
        sa.Column("stations", sa.Integer(), nullable=False),
        sa.Column("visitor_notes", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "approved",
                "changes_requested",
                "rejected",
                name="venue_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("stations >= 1", name=op.f("ck_venue_stations_positive")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_venue_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_venue")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in rls.tenant_isolation("venue"):
            op.execute(statement)
        # Ministry reviewers read venues across tenants, and decide them.
        op.execute(rls.scope_policy("venue", "review", "SELECT"))
        op.execute(rls.scope_policy("venue", "review", "UPDATE"))
        op.execute(rls.scope_policy("venue", "platform", "SELECT"))


def downgrade():
    op.drop_table("venue")
