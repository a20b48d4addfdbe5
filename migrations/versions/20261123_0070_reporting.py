"""Reporting: export runs and report schedules behind tenant RLS; the reviewers'
cross-tenant dose counts as a SECURITY DEFINER function (issue 7).

Reviewers see counts only (per province, vaccine, dose number and venue-local day).
Rather than scope policies that would let the review scope SELECT administration,
booking and lot rows (and so, one join away, who was vaccinated where), the database
hands that scope one function whose result has no row-level data at all: the app role
may execute it, and it answers only inside ``app.scope = 'review'``. As with the API
key lookup, the function's owner (the migration role, under FORCE ROW LEVEL
SECURITY) gets its own read policies on the tables it aggregates; the app role still
sees only its tenant's rows.

Revision ID: 0070_reporting
Revises: 0060_onsite
Create Date: 2026-11-23 21:00:00
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core import rls

revision = "0070_reporting"
down_revision = "0060_onsite"
branch_labels = None
depends_on = None

#: the tables the review function reads
COUNTED = ("administration", "booking", "venue", "lot", "product")

REVIEW_FUNCTION = f"""
CREATE FUNCTION review_dose_counts(p_from date, p_to date)
    RETURNS TABLE (province text, vaccine text, dose_number integer, day date, doses bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
        SELECT v.province::text, pr.name::text, a.dose_number,
               CAST((a.administered_at AT TIME ZONE v.timezone) AS date) AS day, count(*)
        FROM public.administration AS a
        JOIN public.booking AS b ON b.tenant_id = a.tenant_id AND b.id = a.booking_id
        JOIN public.venue AS v ON v.tenant_id = b.tenant_id AND v.id = b.venue_id
        JOIN public.lot AS l ON l.tenant_id = a.tenant_id AND l.id = a.lot_id
        JOIN public.product AS pr ON pr.id = l.product_id
        WHERE app_scope() = 'review' AND a.voided_at IS NULL
          AND CAST((a.administered_at AT TIME ZONE v.timezone) AS date) BETWEEN p_from AND p_to
        GROUP BY 1, 2, 3, 4
    $$;
REVOKE ALL ON FUNCTION review_dose_counts(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION review_dose_counts(date, date) TO {rls.APP_ROLE};
"""  # noqa: S608 - fixed DDL, no input


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    op.create_table(
        "report_schedule",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("exporter", sa.String(length=60), nullable=False),
        sa.Column(
            "format",
            sa.Enum(
                "csv",
                "xlsx",
                "fhir",
                name="export_format",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_sent_on", sa.Date(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_report_schedule_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_report_schedule_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_schedule")),
    )
    op.create_table(
        "export_run",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("exporter", sa.String(length=60), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column(
            "format",
            sa.Enum(
                "csv",
                "xlsx",
                "fhir",
                name="export_format",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "done",
                "failed",
                name="export_run_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("rows_done >= 0", name=op.f("ck_export_run_rows_done_not_negative")),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["user_account.id"],
            name=op.f("fk_export_run_requested_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "api_key_id"],
            ["api_key.tenant_id", "api_key.id"],
            name=op.f("fk_export_run_tenant_id_api_key_id_api_key"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_export_run_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_export_run")),
    )
    with op.batch_alter_table("export_run", schema=None) as batch_op:
        batch_op.create_index("ix_export_run_created", ["tenant_id", "created_at"], unique=False)

    if _postgres():
        for table in ("export_run", "report_schedule"):
            for statement in rls.tenant_isolation(table):
                op.execute(statement)
        for table in COUNTED:
            op.execute(
                f"CREATE POLICY review_counts_definer ON {table} FOR SELECT "
                f"TO CURRENT_USER USING (true)"
            )
        op.execute(REVIEW_FUNCTION)


def downgrade():
    if _postgres():
        op.execute("DROP FUNCTION IF EXISTS review_dose_counts(date, date)")
        for table in COUNTED:
            op.execute(f"DROP POLICY IF EXISTS review_counts_definer ON {table}")
    with op.batch_alter_table("export_run", schema=None) as batch_op:
        batch_op.drop_index("ix_export_run_created")
    op.drop_table("export_run")
    op.drop_table("report_schedule")
