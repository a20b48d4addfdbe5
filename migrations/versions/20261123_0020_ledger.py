"""The booking ledger: vaccine catalogue (seeded), stock, campaigns, slots, bookings.

Every tenant-owned table is behind the tenant policy. The catalogue (product,
interval_rule) is shared: platform rows (owner_tenant_id NULL) are seen by every
tenant, a tenant's own products only by that tenant, and tenants insert only their
own. The platform catalogue is seeded here, before its RLS is forced, from the
vaccines in DOMAIN.md.

Revision ID: 0020_ledger
Revises: 0010
Create Date: 2026-11-23 18:11:32.129938
"""

import datetime as dt
import uuid

import sqlalchemy as sa
from alembic import op

import core.db
from core import rls

revision = "0020_ledger"
down_revision = "0010"
branch_labels = None
depends_on = None


TENANT_TABLES = (
    "person",
    "campaign",
    "lot",
    "stock",
    "campaign_venue",
    "slot",
    "stock_movement",
    "walk_in_day",
    "booking",
    "administration",
    "waitlist_entry",
)

_OWN = "owner_tenant_id = app_tenant_id()"
_PRODUCT_VISIBLE = "EXISTS (SELECT 1 FROM product p WHERE p.id = interval_rule.product_id)"
_PRODUCT_OWN = (
    "EXISTS (SELECT 1 FROM product p WHERE p.id = interval_rule.product_id "
    "AND p.owner_tenant_id = app_tenant_id())"
)
CATALOGUE_POLICIES = (
    "ALTER TABLE product ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE product FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY catalogue_read ON product FOR SELECT USING (owner_tenant_id IS NULL OR {_OWN})",
    f"CREATE POLICY own_insert ON product FOR INSERT WITH CHECK ({_OWN})",
    f"CREATE POLICY own_update ON product FOR UPDATE USING ({_OWN}) WITH CHECK ({_OWN})",
    f"CREATE POLICY own_delete ON product FOR DELETE USING ({_OWN})",
    rls.scope_policy("product", "platform", "SELECT"),
    "ALTER TABLE interval_rule ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE interval_rule FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY catalogue_read ON interval_rule FOR SELECT USING ({_PRODUCT_VISIBLE})",
    f"CREATE POLICY own_insert ON interval_rule FOR INSERT WITH CHECK ({_PRODUCT_OWN})",
    "CREATE POLICY own_update ON interval_rule FOR UPDATE "
    f"USING ({_PRODUCT_OWN}) WITH CHECK ({_PRODUCT_OWN})",
    f"CREATE POLICY own_delete ON interval_rule FOR DELETE USING ({_PRODUCT_OWN})",
)

# The vaccines of DOMAIN.md. Where DOMAIN.md leaves a cell blank the value is the
# common presentation (marked "assumed"); the dates on which interval rules changed
# are approximate. Rules are data: correct them with a later data migration, never
# by editing this one.
# (name, manufacturer, doses in series, booster, doses per vial, open-vial hours,
#  min age, [(from, to, min days, recommended days, effective from)])
_D = dt.date
CATALOGUE = [
    (
        "CoronaVac",
        "Sinovac",
        2,
        True,
        1,
        None,
        18,
        [(1, 2, 14, 14, _D(2021, 1, 1)), (1, 2, 28, 28, _D(2021, 3, 1))],
    ),
    (
        "CoronaVac (Bio Farma)",
        "Bio Farma",
        2,
        True,
        10,
        6,
        18,
        [(1, 2, 14, 14, _D(2021, 1, 1)), (1, 2, 28, 28, _D(2021, 3, 1))],
    ),
    (
        "Sinopharm",
        "Sinopharm",
        2,
        True,
        1,
        None,
        18,  # 1 dose per vial: assumed
        [(1, 2, 21, 21, _D(2021, 1, 1))],
    ),
    (
        "AstraZeneca",
        "AstraZeneca",
        2,
        True,
        10,
        6,
        18,
        [(1, 2, 84, 84, _D(2021, 1, 1)), (1, 2, 56, 84, _D(2021, 8, 1))],
    ),
    ("Moderna", "Moderna", 2, True, 15, 6, 18, [(1, 2, 28, 28, _D(2021, 1, 1))]),
    ("Pfizer-BioNTech", "Pfizer", 2, True, 6, 6, 12, [(1, 2, 21, 21, _D(2021, 1, 1))]),
    (
        "Novavax",
        "Novavax",
        2,
        True,
        10,
        6,
        18,  # 10 doses per vial: assumed
        [(1, 2, 21, 21, _D(2021, 1, 1))],
    ),
]
# Boosters: 6 months after the primary series, later cut to 3 months.
BOOSTER_RULES = [(2, 3, 180, 180, _D(2022, 1, 1)), (2, 3, 90, 180, _D(2022, 2, 1))]
#: fixed namespace, so every installation gives a platform product the same id
_NS = uuid.UUID("8c0e3f8e-5a77-4c3e-9d1e-0f2b7a3c5e01")


def catalogue_tables() -> tuple[sa.TableClause, sa.TableClause]:
    """Lightweight tables for the seed (the models may change after this revision)."""
    product = sa.table(
        "product",
        sa.column("id", sa.Uuid()),
        sa.column("owner_tenant_id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("manufacturer", sa.String()),
        sa.column("doses_in_series", sa.Integer()),
        sa.column("booster", sa.Boolean()),
        sa.column("doses_per_vial", sa.Integer()),
        sa.column("open_vial_hours", sa.Integer()),
        sa.column("min_age_years", sa.Integer()),
        sa.column("max_age_years", sa.Integer()),
        sa.column("created_at", core.db.UTCDateTime()),
    )
    rule = sa.table(
        "interval_rule",
        sa.column("id", sa.Uuid()),
        sa.column("product_id", sa.Uuid()),
        sa.column("from_dose", sa.Integer()),
        sa.column("to_dose", sa.Integer()),
        sa.column("min_days", sa.Integer()),
        sa.column("recommended_days", sa.Integer()),
        sa.column("effective_from", sa.Date()),
    )
    return product, rule


def catalogue_rows() -> tuple[list[dict], list[dict]]:
    """The seed rows: (products, interval rules), with ids stable across installations."""
    now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    products, rules = [], []
    for name, maker, series, booster, per_vial, hours, min_age, intervals in CATALOGUE:
        pid = uuid.uuid5(_NS, name)
        products.append(
            {
                "id": pid,
                "owner_tenant_id": None,
                "name": name,
                "manufacturer": maker,
                "doses_in_series": series,
                "booster": booster,
                "doses_per_vial": per_vial,
                "open_vial_hours": hours,
                "min_age_years": min_age,
                "max_age_years": None,
                "created_at": now,
            }
        )
        for from_dose, to_dose, min_days, rec_days, since in intervals + (
            BOOSTER_RULES if booster else []
        ):
            rules.append(
                {
                    "id": uuid.uuid5(pid, f"{from_dose}-{to_dose}-{since}"),
                    "product_id": pid,
                    "from_dose": from_dose,
                    "to_dose": to_dose,
                    "min_days": min_days,
                    "recommended_days": rec_days,
                    "effective_from": since,
                }
            )
    return products, rules


def _seed_catalogue() -> None:
    product, rule = catalogue_tables()
    products, rules = catalogue_rows()
    op.bulk_insert(product, products)
    op.bulk_insert(rule, rules)


def upgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "person",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column(
            "sex",
            sa.Enum("female", "male", name="person_sex", native_enum=False, create_constraint=True),
            nullable=True,
        ),
        sa.Column("nik_encrypted", sa.String(length=255), nullable=True),
        sa.Column("nik_bidx", sa.String(length=64), nullable=True),
        sa.Column("phone_encrypted", sa.String(length=255), nullable=True),
        sa.Column("email_encrypted", sa.String(length=512), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_person_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_person")),
        sa.UniqueConstraint("tenant_id", "nik_bidx", name=op.f("uq_person_tenant_id_nik_bidx")),
    )
    op.create_table(
        "product",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_tenant_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("manufacturer", sa.String(length=120), nullable=False),
        sa.Column("doses_in_series", sa.Integer(), nullable=False),
        sa.Column("booster", sa.Boolean(), nullable=False),
        sa.Column("doses_per_vial", sa.Integer(), nullable=False),
        sa.Column("open_vial_hours", sa.Integer(), nullable=True),
        sa.Column("min_age_years", sa.Integer(), nullable=True),
        sa.Column("max_age_years", sa.Integer(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("doses_in_series >= 1", name=op.f("ck_product_series_positive")),
        sa.CheckConstraint("doses_per_vial >= 1", name=op.f("ck_product_vial_positive")),
        sa.CheckConstraint(
            "min_age_years IS NULL OR max_age_years IS NULL OR min_age_years <= max_age_years",
            name=op.f("ck_product_age_range"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_tenant_id"],
            ["tenant.id"],
            name=op.f("fk_product_owner_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product")),
    )
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_owner_tenant_id"), ["owner_tenant_id"], unique=False
        )

    op.create_table(
        "campaign",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column(
            "audience",
            sa.Enum(
                "employees",
                "public",
                name="campaign_audience",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("doses_offered", sa.JSON(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("seats_per_slot", sa.Integer(), nullable=True),
        sa.Column("opens_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closes_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("min_age_years", sa.Integer(), nullable=True),
        sa.Column("max_age_years", sa.Integer(), nullable=True),
        sa.Column("walk_ins_per_day", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "published",
                "closed",
                name="campaign_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_campaign_dates")),
        sa.CheckConstraint(
            "min_age_years IS NULL OR max_age_years IS NULL OR min_age_years <= max_age_years",
            name=op.f("ck_campaign_age_range"),
        ),
        sa.CheckConstraint(
            "seats_per_slot IS NULL OR seats_per_slot >= 0", name=op.f("ck_campaign_seats")
        ),
        sa.CheckConstraint("slot_minutes BETWEEN 5 AND 480", name=op.f("ck_campaign_slot_minutes")),
        sa.CheckConstraint("walk_ins_per_day >= 0", name=op.f("ck_campaign_walk_ins")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_campaign_product_id_product"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_campaign_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_campaign")),
        sa.UniqueConstraint("tenant_id", "slug", name=op.f("uq_campaign_tenant_id_slug")),
    )
    op.create_table(
        "interval_rule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("from_dose", sa.Integer(), nullable=False),
        sa.Column("to_dose", sa.Integer(), nullable=False),
        sa.Column("min_days", sa.Integer(), nullable=False),
        sa.Column("recommended_days", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "min_days >= 0 AND recommended_days >= min_days", name=op.f("ck_interval_rule_days")
        ),
        sa.CheckConstraint(
            "to_dose > from_dose AND from_dose >= 1", name=op.f("ck_interval_rule_dose_order")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_interval_rule_product_id_product"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interval_rule")),
        sa.UniqueConstraint(
            "product_id",
            "from_dose",
            "to_dose",
            "effective_from",
            name=op.f("uq_interval_rule_product_id_from_dose_to_dose_effective_from"),
        ),
    )
    with op.batch_alter_table("interval_rule", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_interval_rule_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "lot",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("batch_number", sa.String(length=60), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("doses_received", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("received_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expired_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("doses_received >= 0", name=op.f("ck_lot_received_not_negative")),
        sa.CheckConstraint("on_hand >= 0", name=op.f("ck_lot_on_hand_not_negative")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_lot_product_id_product"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_lot_tenant_id_venue_id_venue"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_lot_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_lot")),
    )
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lot_venue_product", ["tenant_id", "venue_id", "product_id"], unique=False
        )

    op.create_table(
        "stock",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("promised", sa.Integer(), nullable=False),
        sa.CheckConstraint("on_hand >= 0", name=op.f("ck_stock_on_hand_not_negative")),
        sa.CheckConstraint("promised <= on_hand", name=op.f("ck_stock_promised_within_on_hand")),
        sa.CheckConstraint("promised >= 0", name=op.f("ck_stock_promised_not_negative")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_stock_product_id_product"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_stock_tenant_id_venue_id_venue"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_stock_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_stock")),
        sa.UniqueConstraint(
            "tenant_id",
            "venue_id",
            "product_id",
            name=op.f("uq_stock_tenant_id_venue_id_product_id"),
        ),
    )
    op.create_table(
        "campaign_venue",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaign.tenant_id", "campaign.id"],
            name=op.f("fk_campaign_venue_tenant_id_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_campaign_venue_tenant_id_venue_id_venue"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_campaign_venue_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_campaign_venue")),
        sa.UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "venue_id",
            name=op.f("uq_campaign_venue_tenant_id_campaign_id_venue_id"),
        ),
    )
    op.create_table(
        "slot",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.CheckConstraint("booked <= capacity", name=op.f("ck_slot_booked_within_capacity")),
        sa.CheckConstraint("booked >= 0", name=op.f("ck_slot_booked_not_negative")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_slot_times")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaign.tenant_id", "campaign.id"],
            name=op.f("fk_slot_tenant_id_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_slot_tenant_id_venue_id_venue"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_slot_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_slot")),
        sa.UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "venue_id",
            "starts_at",
            name=op.f("uq_slot_tenant_id_campaign_id_venue_id_starts_at"),
        ),
    )
    with op.batch_alter_table("slot", schema=None) as batch_op:
        batch_op.create_index(
            "ix_slot_venue_starts_at", ["tenant_id", "venue_id", "starts_at"], unique=False
        )

    op.create_table(
        "stock_movement",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "received",
                "transfer_in",
                "transfer_out",
                "wasted",
                "administered",
                "expired",
                "void_administration",
                name="movement_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind IN ('received', 'transfer_in', 'void_administration') AND delta > 0) OR "
            "(kind IN ('transfer_out', 'wasted', 'administered', 'expired') AND delta < 0)",
            name=op.f("ck_stock_movement_delta_sign"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_stock_movement_actor_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lot_id"],
            ["lot.tenant_id", "lot.id"],
            name=op.f("fk_stock_movement_tenant_id_lot_id_lot"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_stock_movement_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_stock_movement")),
    )
    with op.batch_alter_table("stock_movement", schema=None) as batch_op:
        batch_op.create_index("ix_stock_movement_lot", ["tenant_id", "lot_id"], unique=False)

    op.create_table(
        "walk_in_day",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("allowance", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.CheckConstraint("used <= allowance", name=op.f("ck_walk_in_day_used_within_allowance")),
        sa.CheckConstraint("used >= 0", name=op.f("ck_walk_in_day_used_not_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaign.tenant_id", "campaign.id"],
            name=op.f("fk_walk_in_day_tenant_id_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_walk_in_day_tenant_id_venue_id_venue"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_walk_in_day_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_walk_in_day")),
        sa.UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "venue_id",
            "day",
            name=op.f("uq_walk_in_day_tenant_id_campaign_id_venue_id_day"),
        ),
    )
    op.create_table(
        "booking",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("slot_id", sa.Uuid(), nullable=True),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("dose_number", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "booked",
                "arrived",
                "vaccinated",
                "no_show",
                "cancelled",
                name="booking_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "source",
            sa.Enum(
                "online",
                "walk_in",
                "second_dose",
                "waitlist",
                name="booking_source",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("walk_in_day_id", sa.Uuid(), nullable=True),
        sa.Column("follows_booking_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("dose_number >= 1", name=op.f("ck_booking_dose_number_positive")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
            name=op.f("fk_booking_product_id_product"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaign.tenant_id", "campaign.id"],
            name=op.f("fk_booking_tenant_id_campaign_id_campaign"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "follows_booking_id"],
            ["booking.tenant_id", "booking.id"],
            name=op.f("fk_booking_tenant_id_follows_booking_id_booking"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "person_id"],
            ["person.tenant_id", "person.id"],
            name=op.f("fk_booking_tenant_id_person_id_person"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "slot_id"],
            ["slot.tenant_id", "slot.id"],
            name=op.f("fk_booking_tenant_id_slot_id_slot"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_booking_tenant_id_venue_id_venue"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "walk_in_day_id"],
            ["walk_in_day.tenant_id", "walk_in_day.id"],
            name=op.f("fk_booking_tenant_id_walk_in_day_id_walk_in_day"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_booking_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_booking")),
    )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.create_index("ix_booking_person", ["tenant_id", "person_id"], unique=False)
        batch_op.create_index("ix_booking_slot", ["tenant_id", "slot_id"], unique=False)
        batch_op.create_index(
            "ix_booking_venue_product",
            ["tenant_id", "venue_id", "product_id", "status"],
            unique=False,
        )
        batch_op.create_index(
            "uq_booking_active_dose",
            ["tenant_id", "campaign_id", "person_id", "dose_number"],
            unique=True,
            sqlite_where=sa.text("status IN ('booked', 'arrived', 'vaccinated')"),
            postgresql_where=sa.text("status IN ('booked', 'arrived', 'vaccinated')"),
        )

    op.create_table(
        "administration",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("dose_number", sa.Integer(), nullable=False),
        sa.Column("vaccinator_id", sa.Uuid(), nullable=True),
        sa.Column("administered_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("voided_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("void_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "booking_id"],
            ["booking.tenant_id", "booking.id"],
            name=op.f("fk_administration_tenant_id_booking_id_booking"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lot_id"],
            ["lot.tenant_id", "lot.id"],
            name=op.f("fk_administration_tenant_id_lot_id_lot"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_administration_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["vaccinator_id"],
            ["user_account.id"],
            name=op.f("fk_administration_vaccinator_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_administration")),
    )
    with op.batch_alter_table("administration", schema=None) as batch_op:
        batch_op.create_index(
            "ix_administration_booking", ["tenant_id", "booking_id"], unique=False
        )

    op.create_table(
        "waitlist_entry",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("venue_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("dose_number", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "waiting",
                "offered",
                "accepted",
                "expired",
                name="waitlist_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("offered_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("offer_expires_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "booking_id"],
            ["booking.tenant_id", "booking.id"],
            name=op.f("fk_waitlist_entry_tenant_id_booking_id_booking"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "campaign_id"],
            ["campaign.tenant_id", "campaign.id"],
            name=op.f("fk_waitlist_entry_tenant_id_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "person_id"],
            ["person.tenant_id", "person.id"],
            name=op.f("fk_waitlist_entry_tenant_id_person_id_person"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "venue_id"],
            ["venue.tenant_id", "venue.id"],
            name=op.f("fk_waitlist_entry_tenant_id_venue_id_venue"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_waitlist_entry_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_waitlist_entry")),
    )
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.create_index(
            "ix_waitlist_entry_queue", ["tenant_id", "campaign_id", "venue_id", "day"], unique=False
        )

    # ### end Alembic commands ###
    _seed_catalogue()
    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            for statement in rls.tenant_isolation(table):
                op.execute(statement)
        for statement in CATALOGUE_POLICIES:
            op.execute(statement)


def downgrade():
    # Dropping the tables drops their policies.
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_waitlist_entry_queue")

    op.drop_table("waitlist_entry")
    with op.batch_alter_table("administration", schema=None) as batch_op:
        batch_op.drop_index("ix_administration_booking")

    op.drop_table("administration")
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_booking_active_dose",
            sqlite_where=sa.text("status IN ('booked', 'arrived', 'vaccinated')"),
            postgresql_where=sa.text("status IN ('booked', 'arrived', 'vaccinated')"),
        )
        batch_op.drop_index("ix_booking_venue_product")
        batch_op.drop_index("ix_booking_slot")
        batch_op.drop_index("ix_booking_person")

    op.drop_table("booking")
    op.drop_table("walk_in_day")
    with op.batch_alter_table("stock_movement", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_movement_lot")

    op.drop_table("stock_movement")
    with op.batch_alter_table("slot", schema=None) as batch_op:
        batch_op.drop_index("ix_slot_venue_starts_at")

    op.drop_table("slot")
    op.drop_table("campaign_venue")
    op.drop_table("stock")
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.drop_index("ix_lot_venue_product")

    op.drop_table("lot")
    with op.batch_alter_table("interval_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interval_rule_product_id"))

    op.drop_table("interval_rule")
    op.drop_table("campaign")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_owner_tenant_id"))

    op.drop_table("product")
    op.drop_table("person")
    # ### end Alembic commands ###
