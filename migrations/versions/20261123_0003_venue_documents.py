"""Venue documents, review decisions and reviewer claims, behind RLS.

Revision ID: 0003_venue_documents
Revises: 0002
Create Date: 2026-11-23 18:10:54.545592
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core import rls

revision = "0003_venue_documents"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "venue_document",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "photo_entrance",
                "photo_vaccination_area",
                "permit_letter",
                "other",
                name="document_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("original_filename", sa.String(length=255), nullable=False),
        sa.Column("uploaded_by_id", sa.Uuid(), nullable=True),
        sa.Column("uploaded_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("submitted", sa.Boolean(), nullable=False),
        sa.Column("thumbnail_key", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_venue_document_tenant_id_venue_id_venue"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_venue_document_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["user_account.id"],
            name=op.f("fk_venue_document_uploaded_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_venue_document")),
        sa.UniqueConstraint(
            "tenant_id",
            "venue_id",
            "kind",
            "version",
            name=op.f("uq_venue_document_tenant_id_venue_id_kind_version"),
        ),
    )
    op.create_table(
        "venue_review",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column(
            "decision",
            sa.Enum(
                "approved",
                "changes_requested",
                "rejected",
                name="review_decision",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reviewer_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.Column("document_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["user_account.id"],
            name=op.f("fk_venue_review_reviewer_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_venue_review_tenant_id_venue_id_venue"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_venue_review_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_venue_review")),
    )
    with op.batch_alter_table("venue_review", schema=None) as batch_op:
        batch_op.create_index(
            "ix_venue_review_venue", ["tenant_id", "venue_id", "decided_at"], unique=False
        )

    with op.batch_alter_table("venue", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("claim_expires_at", core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_venue_status_submitted_at", ["status", "submitted_at"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_venue_claimed_by_id_user_account"),
            "user_account",
            ["claimed_by_id"],
            ["id"],
            ondelete="SET NULL",
        )

    if op.get_bind().dialect.name == "postgresql":
        for table in ("venue_document", "venue_review"):
            for statement in rls.tenant_isolation(table):
                op.execute(statement)
            # Ministry reviewers read documents and decisions across tenants; platform
            # operators read them too. The review scope sees nothing else of a tenant.
            op.execute(rls.scope_policy(table, "review", "SELECT"))
            op.execute(rls.scope_policy(table, "platform", "SELECT"))
        # A decision writes its history row (and updates the venue, granted in 0002).
        op.execute(rls.scope_policy("venue_review", "review", "INSERT"))


def downgrade():
    with op.batch_alter_table("venue", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_venue_claimed_by_id_user_account"), type_="foreignkey"
        )
        batch_op.drop_index("ix_venue_status_submitted_at")
        batch_op.drop_column("claim_expires_at")
        batch_op.drop_column("claimed_by_id")

    with op.batch_alter_table("venue_review", schema=None) as batch_op:
        batch_op.drop_index("ix_venue_review_venue")

    op.drop_table("venue_review")
    op.drop_table("venue_document")
