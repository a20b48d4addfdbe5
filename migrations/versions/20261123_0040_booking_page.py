"""Public booking page: personal details and consent on people (issue 5).

The booking page asks for an address (kept encrypted, like the NIK) and an occupation,
records the person's language (their emails use it) and when they consented to which
version of the privacy notice. Existing people default to Indonesian, no consent
recorded (they were registered before the page existed).

Revision ID: 0040_booking_page
Revises: 0030_billing
Create Date: 2026-11-23 21:00:00
"""

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0040_booking_page"
down_revision = "0030_billing"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("address_encrypted", sa.Text(), nullable=True))
        batch.add_column(sa.Column("occupation", sa.String(length=120), nullable=True))
        batch.add_column(
            sa.Column("locale", sa.String(length=5), server_default="id", nullable=False)
        )
        batch.add_column(sa.Column("consent_at", core.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("privacy_notice_version", sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table("person") as batch:
        for column in (
            "privacy_notice_version",
            "consent_at",
            "locale",
            "occupation",
            "address_encrypted",
        ):
            batch.drop_column(column)
