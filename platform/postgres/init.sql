-- Roles and ownership for Sentra, run as a superuser in Sentra's database.
-- The postgres image runs it once on an empty data directory (docker-entrypoint-initdb.d,
-- database POSTGRES_DB); on any other server a DBA can run it with psql. Idempotent.
--
-- Three roles, as docs/architecture.md ("Tenancy: three walls") requires:
--   sentra_owner  owns the database and its tables; the release step migrates as it
--                 (MIGRATION_DATABASE_URL). Not a superuser: FORCE ROW LEVEL SECURITY
--                 binds it too.
--   sentra_app    the group role the migrations grant table privileges to
--                 (core/rls.py APP_ROLE): NOLOGIN, owns nothing, NOBYPASSRLS.
--   sentra_web    the login role web, worker and scheduler connect as (DATABASE_URL):
--                 a member of sentra_app and nothing else.
-- The passwords are for the local compose stack only; production sets its own.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sentra_owner') THEN
        CREATE ROLE sentra_owner LOGIN PASSWORD 'sentra_owner'
            NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sentra_app') THEN
        CREATE ROLE sentra_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sentra_web') THEN
        CREATE ROLE sentra_web LOGIN PASSWORD 'sentra_web' NOSUPERUSER NOBYPASSRLS
            IN ROLE sentra_app;
    END IF;
    -- The database owner also owns schema public (PostgreSQL 15: pg_database_owner), so
    -- the migrations may create tables and functions in it and grant on them.
    EXECUTE format('ALTER DATABASE %I OWNER TO sentra_owner', current_database());
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO sentra_owner, sentra_app',
                   current_database());
END $$;
