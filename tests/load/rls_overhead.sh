#!/usr/bin/env bash
# What row-level security costs on a tenant-scoped read, measured with pgbench.
#
#   bash tests/load/rls_overhead.sh            # needs the migrated schema's roles; see below
#
# Makes a throwaway database, runs Sentra's migrations in it (as the superuser, the owner
# here), fills `venue` with TENANTS x VENUES rows, and runs the same read three ways for
# DURATION seconds each with CLIENTS clients:
#   owner     superuser, RLS bypassed, explicit WHERE tenant_id (the baseline)
#   app+where app role under RLS, tenant set per transaction, explicit WHERE tenant_id
#             (what the ORM sends: with_loader_criteria adds the WHERE)
#   app-only  app role under RLS, no WHERE: the policy alone selects the tenant's rows
# Each transaction: BEGIN; set_config('app.tenant_id', <random tenant>, true); the
# SELECT; COMMIT. The database is dropped at the end. Not run by `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

ADMIN_URL=${TEST_DATABASE_URL:-postgresql://root@127.0.0.1:5432/test}
TENANTS=${TENANTS:-1000}
VENUES=${VENUES:-20}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-15}
DB=sentra_bench_rls_$$
BASE=${ADMIN_URL%/*}
HOSTPART=${BASE#*@}
APP_ROLE=sentra_bench_app

work=$(mktemp -d)
cleanup() {
    psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
    psql -q "$ADMIN_URL" -c "DROP ROLE IF EXISTS $APP_ROLE" || true
    rm -rf "$work"
}
trap cleanup EXIT

psql -q "$ADMIN_URL" -c "CREATE DATABASE $DB"
SENTRA_INSTANCE_PATH=$work DATABASE_URL="$BASE/$DB" .venv/bin/flask --app wsgi db upgrade >/dev/null 2>&1
psql -q "$BASE/$DB" <<SQL
CREATE ROLE $APP_ROLE LOGIN NOBYPASSRLS IN ROLE sentra_app;
INSERT INTO tenant (id, slug, name, kind, status, created_at)
SELECT md5(n::text)::uuid, 'bench-' || n, 'Bench ' || n, 'clinic', 'active', now()
FROM generate_series(1, $TENANTS) n;
INSERT INTO venue (tenant_id, id, name, address, province, city, opening_hours, timezone,
                   stations, status, created_at)
SELECT md5(n::text)::uuid, gen_random_uuid(), 'Venue ' || v, 'Jl. Bench ' || v, 'DKI Jakarta',
       'Jakarta', '{}', 'Asia/Jakarta', 1, 'approved', now()
FROM generate_series(1, $TENANTS) n, generate_series(1, $VENUES) v;
VACUUM ANALYZE;
SQL

write() {  # write <name> <select>
    cat > "$work/$1.sql" <<SQL
\set n random(1, $TENANTS)
BEGIN;
SELECT set_config('app.tenant_id', md5(:n::text), true);
$2
COMMIT;
SQL
}
write where "SELECT id, name FROM venue WHERE tenant_id = md5(:n::text)::uuid;"
write policy "SELECT id, name FROM venue;"

run() {  # run <label> <url> <script>
    local tps
    tps=$(pgbench -n -c "$CLIENTS" -j 2 -T "$DURATION" -f "$work/$3.sql" "$2" 2>&1 \
        | awk '/^tps/ {print int($3); exit}')
    printf '%-10s %8s tps\n' "$1" "$tps"
}

echo "PostgreSQL $(psql -Atc 'SHOW server_version' "$ADMIN_URL"), $(nproc) cores," \
     "$TENANTS tenants x $VENUES venues, $CLIENTS clients, ${DURATION}s each"
# Check first that the app role really is under RLS: it must see one tenant's rows only.
seen=$(psql -qAt "postgresql://$APP_ROLE@$HOSTPART/$DB" -c "BEGIN" \
    -c "SELECT set_config('app.tenant_id', md5('1'), true)" \
    -c "SELECT count(*) FROM venue" -c "COMMIT" | tail -n 1)
[ "$seen" = "$VENUES" ] || { echo "app role saw $seen rows, expected $VENUES" >&2; exit 1; }
run owner "$BASE/$DB" where
run app+where "postgresql://$APP_ROLE@$HOSTPART/$DB" where
run app-only "postgresql://$APP_ROLE@$HOSTPART/$DB" policy
