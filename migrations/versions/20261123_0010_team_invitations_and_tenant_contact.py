"""Team invitations and tenants' contact details, behind tenant row-level security.

Revision ID: 0010
Revises: 0004_api_keys
Create Date: 2026-11-23 18:11:11.293439
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core import rls

revision = "0010"
down_revision = "0004_api_keys"
branch_labels = None
depends_on = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    op.create_table(
        "invitation",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "owner",
                "admin",
                "coordinator",
                "checkin",
                name="invitation_role",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("invited_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("accepted_by_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["accepted_by_id"],
            ["user_account.id"],
            name=op.f("fk_invitation_accepted_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["user_account.id"],
            name=op.f("fk_invitation_invited_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_invitation_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invitation")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitation_token_hash")),
    )
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.create_index("ix_invitation_tenant_email", ["tenant_id", "email"], unique=False)

    op.create_table(
        "tenant_contact",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_tenant_contact_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_tenant_contact_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tenant_contact")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_tenant_contact_tenant_id")),
    )
    if _postgres():
        for table in ("invitation", "tenant_contact"):
            for statement in rls.tenant_isolation(table):
                op.execute(statement)
        # Platform operators see a tenant's pending invitations and its contact phone;
        # reviewers see the contact phone of the organisations whose venues they review.
        op.execute(rls.scope_policy("invitation", "platform", "SELECT"))
        op.execute(rls.scope_policy("tenant_contact", "platform", "SELECT"))
        op.execute(rls.scope_policy("tenant_contact", "review", "SELECT"))


def downgrade():
    op.drop_table("tenant_contact")
    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_index("ix_invitation_tenant_email")
    op.drop_table("invitation")
