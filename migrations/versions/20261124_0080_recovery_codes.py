"""Recovery codes for two-factor sign-in: single-use, stored as keyed hashes.

The table belongs to users, which are platform rows (``user_account`` has no
row-level security: people sign in before any tenant is chosen), so it has no
tenant policy either. The app role gets it through the default privileges granted
in 0001.

Revision ID: 0080_recovery_codes
Revises: 0070_reporting
Create Date: 2026-11-24 09:00:00
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0080_recovery_codes"
down_revision = "0070_reporting"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_recovery_code_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_code")),
        sa.UniqueConstraint(
            "user_id", "code_hash", name=op.f("uq_recovery_code_user_id_code_hash")
        ),
    )


def downgrade():
    op.drop_table("recovery_code")
