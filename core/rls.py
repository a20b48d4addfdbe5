"""Row-level security DDL, used by the migrations (and by tests that check them).

Fail-closed: with no ``app.tenant_id`` set, ``app_tenant_id()`` is NULL and the
policy matches nothing. ``NULLIF`` matters: after a transaction-local setting ends,
``current_setting(..., true)`` returns '' on that pooled connection, not NULL.
"""

from __future__ import annotations

#: The group role the web app and workers log in through: owns nothing, no BYPASSRLS.
APP_ROLE = "sentra_app"

FUNCTIONS = """
CREATE OR REPLACE FUNCTION app_tenant_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
CREATE OR REPLACE FUNCTION app_scope() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.scope', true), '') $$;
"""

APP_ROLE_SQL = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN NOBYPASSRLS;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'role {APP_ROLE} is missing and the migration role may not create it; '
                    'ask the DBA: CREATE ROLE {APP_ROLE} NOLOGIN NOBYPASSRLS';
END $$;
GRANT USAGE ON SCHEMA public TO {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE};
"""


def tenant_isolation(table: str) -> list[str]:
    """Statements that put a tenant-owned table behind the fail-closed tenant policy."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} "
        f"USING (tenant_id = app_tenant_id()) WITH CHECK (tenant_id = app_tenant_id())",
    ]


def scope_policy(table: str, scope: str, command: str = "SELECT") -> str:
    """A narrow policy letting a named cross-tenant scope (core.tenancy.Scope) run ``command``."""
    name = f"scope_{scope}_{command.lower()}"
    clause = "WITH CHECK" if command == "INSERT" else "USING"
    return f"CREATE POLICY {name} ON {table} FOR {command} {clause} (app_scope() = '{scope}')"


def drop_tenant_isolation(table: str) -> list[str]:
    """Undo :func:`tenant_isolation` (for downgrades)."""
    return [
        f"DROP POLICY IF EXISTS tenant_isolation ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
