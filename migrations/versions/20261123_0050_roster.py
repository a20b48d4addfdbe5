"""Employee rosters, invite codes, roster bookings, priority groups (issue 4).

``roster_entry``: one employee per campaign and employee number, NIK and email
encrypted with keyed blind indexes, and a dependants counter the database keeps
within the allowance (CHECK). ``roster_invite_code``: single-use codes, stored as
keyed hashes. ``roster_booking``: which roster line or code a booking was made under
(the participation report reads it). ``priority_group`` / ``priority_declaration``:
a public campaign's priority groups and the self-declarations made at booking.
Every table is tenant-owned and behind the fail-closed tenant policy.

Revision ID: 0050_roster
Revises: 0045_vouchers
Create Date: 2026-11-23 21:00:00
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core import rls

revision = "0050_roster"
down_revision = "0045_vouchers"
branch_labels = None
depends_on = None

TABLES = (
    "roster_entry",
    "roster_invite_code",
    "roster_booking",
    "priority_group",
    "priority_declaration",
)


def upgrade():
    op.create_table(
        "roster_entry",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("employee_number", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("nik_encrypted", sa.String(length=255), nullable=True),
        sa.Column("nik_bidx", sa.String(length=64), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("email_encrypted", sa.String(length=512), nullable=True),
        sa.Column("email_bidx", sa.String(length=64), nullable=True),
        sa.Column("dependants_allowed", sa.Integer(), nullable=False),
        sa.Column("dependants_booked", sa.Integer(), nullable=False),
        sa.Column("link_secret_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "dependants_allowed >= 0", name=op.f("ck_roster_entry_dependants_allowed_not_negative")
        ),
        sa.CheckConstraint(
            "dependants_booked <= dependants_allowed",
            name=op.f("ck_roster_entry_dependants_within_allowance"),
        ),
        sa.CheckConstraint(
            "dependants_booked >= 0", name=op.f("ck_roster_entry_dependants_booked_not_negative")
        ),
        sa.CheckConstraint(
            "nik_bidx IS NOT NULL OR date_of_birth IS NOT NULL",
            name=op.f("ck_roster_entry_nik_or_date_of_birth"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaign.tenant_id", "campaign.id"],
            name=op.f("fk_roster_entry_tenant_id_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_roster_entry_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_roster_entry")),
        sa.UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "employee_number",
            name=op.f("uq_roster_entry_tenant_id_campaign_id_employee_number"),
        ),
    )
    with op.batch_alter_table("roster_entry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_roster_entry_email", ["tenant_id", "campaign_id", "email_bidx"], unique=False
        )

    op.create_table(
        "roster_invite_code",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_roster_invite_code_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "booking_id"],
            ["booking.tenant_id", "booking.id"],
            name=op.f("fk_roster_invite_code_tenant_id_booking_id_booking"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaign.tenant_id", "campaign.id"],
            name=op.f("fk_roster_invite_code_tenant_id_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_roster_invite_code_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_roster_invite_code")),
        sa.UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "code_hash",
            name=op.f("uq_roster_invite_code_tenant_id_campaign_id_code_hash"),
        ),
    )

    op.create_table(
        "roster_booking",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("invite_code_id", sa.Uuid(), nullable=True),
        sa.Column("dependant", sa.Boolean(), nullable=False),
        sa.Column("holds_allowance", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(entry_id IS NULL) <> (invite_code_id IS NULL)",
            name=op.f("ck_roster_booking_entry_or_invite_code"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "booking_id"],
            ["booking.tenant_id", "booking.id"],
            name=op.f("fk_roster_booking_tenant_id_booking_id_booking"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaign.tenant_id", "campaign.id"],
            name=op.f("fk_roster_booking_tenant_id_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "entry_id"],
            ["roster_entry.tenant_id", "roster_entry.id"],
            name=op.f("fk_roster_booking_tenant_id_entry_id_roster_entry"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invite_code_id"],
            ["roster_invite_code.tenant_id", "roster_invite_code.id"],
            name=op.f("fk_roster_booking_tenant_id_invite_code_id_roster_invite_code"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_roster_booking_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_roster_booking")),
        sa.UniqueConstraint(
            "tenant_id", "booking_id", name=op.f("uq_roster_booking_tenant_id_booking_id")
        ),
    )
    with op.batch_alter_table("roster_booking", schema=None) as batch_op:
        batch_op.create_index("ix_roster_booking_entry", ["tenant_id", "entry_id"], unique=False)

    op.create_table(
        "priority_group",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("declaration", sa.String(length=1000), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaign.tenant_id", "campaign.id"],
            name=op.f("fk_priority_group_tenant_id_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_priority_group_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_priority_group")),
        sa.UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "name",
            name=op.f("uq_priority_group_tenant_id_campaign_id_name"),
        ),
    )

    op.create_table(
        "priority_declaration",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("declaration", sa.String(length=1000), nullable=False),
        sa.Column("declared_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "booking_id"],
            ["booking.tenant_id", "booking.id"],
            name=op.f("fk_priority_declaration_tenant_id_booking_id_booking"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "group_id"],
            ["priority_group.tenant_id", "priority_group.id"],
            name=op.f("fk_priority_declaration_tenant_id_group_id_priority_group"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_priority_declaration_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_priority_declaration")),
        sa.UniqueConstraint(
            "tenant_id", "booking_id", name=op.f("uq_priority_declaration_tenant_id_booking_id")
        ),
    )

    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for statement in rls.tenant_isolation(table):
                op.execute(statement)


def downgrade():
    op.drop_table("priority_declaration")
    op.drop_table("priority_group")
    with op.batch_alter_table("roster_booking", schema=None) as batch_op:
        batch_op.drop_index("ix_roster_booking_entry")
    op.drop_table("roster_booking")
    op.drop_table("roster_invite_code")
    with op.batch_alter_table("roster_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_roster_entry_email")
    op.drop_table("roster_entry")
