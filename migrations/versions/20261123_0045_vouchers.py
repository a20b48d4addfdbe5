"""Vouchers: a readable code on every booking, and when its emails went out.

``voucher_code`` is unique per tenant. Bookings made before this revision get a code
here (the alphabet of ``tenants.vouchers.codes``, copied so this revision never
changes with the app's code), so the column can be
NOT NULL. ``voucher_mailed_at`` and ``reminder_sent_at`` make the voucher email and
the day-before reminder go out once. Existing bookings count as mailed: nobody gets
a voucher for an old booking out of the blue when this is deployed.

Revision ID: 0045_vouchers
Revises: 0040_booking_page
Create Date: 2026-11-23 21:00:00
"""

import datetime as dt
import secrets

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0045_vouchers"
down_revision = "0040_booking_page"
branch_labels = None
depends_on = None

_ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"


def new_voucher_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(10))


def upgrade():
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voucher_code", sa.String(length=10), nullable=True))
        batch_op.add_column(
            sa.Column("voucher_mailed_at", core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reminder_sent_at", core.db.UTCDateTime(timezone=True), nullable=True)
        )
    bind = op.get_bind()
    booking = sa.table(
        "booking",
        sa.column("tenant_id", sa.Uuid()),
        sa.column("id", sa.Uuid()),
        sa.column("voucher_code", sa.String()),
        sa.column("voucher_mailed_at", core.db.UTCDateTime(timezone=True)),
    )
    now = dt.datetime.now(dt.UTC)
    # Migrations run as the owner role, which RLS does not restrict.
    for tenant_id, booking_id in bind.execute(sa.select(booking.c.tenant_id, booking.c.id)).all():
        bind.execute(
            booking.update()
            .where(booking.c.tenant_id == tenant_id, booking.c.id == booking_id)
            .values(voucher_code=new_voucher_code(), voucher_mailed_at=now)
        )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.alter_column("voucher_code", existing_type=sa.String(length=10), nullable=False)
        batch_op.create_unique_constraint(
            op.f("uq_booking_tenant_id_voucher_code"), ["tenant_id", "voucher_code"]
        )


def downgrade():
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_booking_tenant_id_voucher_code"), type_="unique")
        batch_op.drop_column("reminder_sent_at")
        batch_op.drop_column("voucher_mailed_at")
        batch_op.drop_column("voucher_code")
