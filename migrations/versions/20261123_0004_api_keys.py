"""API keys and idempotency records, behind RLS; the narrow key lookup function.

Revision ID: 0004_api_keys
Revises: 0003_venue_documents
Create Date: 2026-11-23 18:30:00
"""

import sqlalchemy as sa
from alembic import op

import core.db
from core import rls

revision = "0004_api_keys"
down_revision = "0003_venue_documents"
branch_labels = None
depends_on = None

# The one cross-tenant path to api_key (see core/api/services.py): given a prefix AND
# the hash of the secret, the tenant and id of that active key; nothing else. SECURITY
# DEFINER runs it as the migration (owner) role; a fixed search_path keeps a caller
# from shadowing the table. FORCE ROW LEVEL SECURITY binds the owner too, so the owner
# gets its own read policy (`TO CURRENT_USER`, i.e. the role running this migration):
# the app role still sees only its tenant's rows.
LOOKUP_FUNCTION = f"""
CREATE FUNCTION api_key_authenticate(p_prefix text, p_secret_hash text)
    RETURNS TABLE (tenant_id uuid, key_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$
        SELECT k.tenant_id, k.id FROM public.api_key AS k
        WHERE k.prefix = p_prefix AND k.secret_hash = p_secret_hash
          AND k.revoked_at IS NULL
    $$;
REVOKE ALL ON FUNCTION api_key_authenticate(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_key_authenticate(text, text) TO {rls.APP_ROLE};
CREATE POLICY key_lookup_definer ON api_key FOR SELECT TO CURRENT_USER USING (true);
"""  # noqa: S608 - fixed DDL, no input


def upgrade():
    op.create_table(
        "api_key",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_api_key_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_api_key_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    op.create_table(
        "api_idempotency",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("api_key_id", sa.Uuid(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_api_idempotency_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_api_idempotency")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_api_idempotency_tenant_id_key")),
    )
    with op.batch_alter_table("api_idempotency", schema=None) as batch_op:
        batch_op.create_index("ix_api_idempotency_created_at", ["created_at"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        for table in ("api_key", "api_idempotency"):
            for statement in rls.tenant_isolation(table):
                op.execute(statement)
        op.execute(LOOKUP_FUNCTION)
        # The sweeper deletes expired idempotency records of every tenant.
        op.execute(rls.scope_policy("api_idempotency", "system", "SELECT"))
        op.execute(rls.scope_policy("api_idempotency", "system", "DELETE"))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS api_key_authenticate(text, text)")
    with op.batch_alter_table("api_idempotency", schema=None) as batch_op:
        batch_op.drop_index("ix_api_idempotency_created_at")
    op.drop_table("api_idempotency")
    op.drop_table("api_key")
