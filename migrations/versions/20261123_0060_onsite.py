"""On site: check-in, screening, opened vials, observation, adverse events, day close.

Seven tenant-owned tables behind the tenant policy. ``checkin`` allows one active
check-in per booking (a partial unique index; a deferral releases it) and one row per
client nonce (a retried request is the same check-in); ``day_close`` is unique per
venue and day so closing twice is a no-op. The ministry report (issue 7) reads
``screening`` and ``adverse_event``.

Revision ID: 0060_onsite
Revises: 0050_roster
Create Date: 2026-11-23 21:00:00
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core import rls

revision = "0060_onsite"
down_revision = "0050_roster"
branch_labels = None
depends_on = None

TABLES = [
    "screening_question",
    "day_close",
    "vial_opening",
    "checkin",
    "screening",
    "adverse_event",
    "observation",
]


def upgrade():
    op.create_table(
        "screening_question",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column(
            "effect",
            sa.Enum(
                "none",
                "defer",
                "do_not_vaccinate",
                name="screening_effect",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_screening_question_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_screening_question")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_screening_question_tenant_id_key")),
    )
    op.create_table(
        "day_close",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("closed_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by_id", sa.Uuid(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_id"], ["user_account.id"], name=op.f("fk_day_close_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_day_close_tenant_id_venue_id_venue"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_day_close_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_day_close")),
        sa.UniqueConstraint(
            "tenant_id", "venue_id", "day", name=op.f("uq_day_close_tenant_id_venue_id_day")
        ),
    )
    op.create_table(
        "vial_opening",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("doses_in_vial", sa.Integer(), nullable=False),
        sa.Column("opened_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("doses_used", sa.Integer(), nullable=False),
        sa.Column("closed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("leftover_wasted", sa.Integer(), nullable=True),
        sa.Column("opened_by_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "doses_used <= doses_in_vial", name=op.f("ck_vial_opening_doses_used_within_vial")
        ),
        sa.CheckConstraint("doses_used >= 0", name=op.f("ck_vial_opening_doses_used_not_negative")),
        sa.ForeignKeyConstraint(
            ["opened_by_id"],
            ["user_account.id"],
            name=op.f("fk_vial_opening_opened_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lot_id"],
            ["lot.tenant_id", "lot.id"],
            name=op.f("fk_vial_opening_tenant_id_lot_id_lot"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_vial_opening_tenant_id_venue_id_venue"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_vial_opening_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_vial_opening")),
    )
    with op.batch_alter_table("vial_opening", schema=None) as batch_op:
        batch_op.create_index(
            "ix_vial_opening_open", ["tenant_id", "venue_id", "closed_at"], unique=False
        )

    op.create_table(
        "checkin",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("checked_in_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by_id", sa.Uuid(), nullable=True),
        sa.Column("client_nonce", sa.String(length=64), nullable=True),
        sa.Column("walk_in", sa.Boolean(), nullable=False),
        sa.Column("released_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["by_id"], ["user_account.id"], name=op.f("fk_checkin_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "booking_id"],
            ["booking.tenant_id", "booking.id"],
            name=op.f("fk_checkin_tenant_id_booking_id_booking"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_checkin_tenant_id_venue_id_venue"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_checkin_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_checkin")),
        sa.UniqueConstraint(
            "tenant_id", "client_nonce", name=op.f("uq_checkin_tenant_id_client_nonce")
        ),
    )
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.create_index(
            "uq_checkin_active_booking",
            ["tenant_id", "booking_id"],
            unique=True,
            sqlite_where=sa.text("released_at IS NULL"),
            postgresql_where=sa.text("released_at IS NULL"),
        )

    op.create_table(
        "screening",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "vaccinate",
                "defer",
                "do_not_vaccinate",
                name="screening_outcome",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("return_date", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("by_id", sa.Uuid(), nullable=True),
        sa.Column("at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_id"], ["user_account.id"], name=op.f("fk_screening_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "booking_id"],
            ["booking.tenant_id", "booking.id"],
            name=op.f("fk_screening_tenant_id_booking_id_booking"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_screening_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_screening")),
    )
    with op.batch_alter_table("screening", schema=None) as batch_op:
        batch_op.create_index("ix_screening_booking", ["tenant_id", "booking_id"], unique=False)

    op.create_table(
        "adverse_event",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("administration_id", sa.Uuid(), nullable=False),
        sa.Column(
            "severity",
            sa.Enum(
                "mild",
                "moderate",
                "severe",
                name="adverse_event_severity",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("observed_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["by_id"], ["user_account.id"], name=op.f("fk_adverse_event_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "administration_id"],
            ["administration.tenant_id", "administration.id"],
            name=op.f("fk_adverse_event_tenant_id_administration_id_administration"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_adverse_event_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_adverse_event")),
    )
    with op.batch_alter_table("adverse_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_adverse_event_administration", ["tenant_id", "administration_id"], unique=False
        )

    op.create_table(
        "observation",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("administration_id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("started_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("observation_until", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("vial_opening_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "administration_id"],
            ["administration.tenant_id", "administration.id"],
            name=op.f("fk_observation_tenant_id_administration_id_administration"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "booking_id"],
            ["booking.tenant_id", "booking.id"],
            name=op.f("fk_observation_tenant_id_booking_id_booking"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_observation_tenant_id_venue_id_venue"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "vial_opening_id"],
            ["vial_opening.tenant_id", "vial_opening.id"],
            name=op.f("fk_observation_tenant_id_vial_opening_id_vial_opening"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_observation_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_observation")),
        sa.UniqueConstraint(
            "tenant_id",
            "administration_id",
            name=op.f("uq_observation_tenant_id_administration_id"),
        ),
    )
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_observation_until", ["tenant_id", "observation_until"], unique=False
        )

    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            for statement in rls.tenant_isolation(table):
                op.execute(statement)


def downgrade():
    # observation refers to vial_opening; drop in reverse order of creation
    for table in reversed(TABLES):
        op.drop_table(table)
