"""Test harness: every app test runs on SQLite, and on PostgreSQL when reachable.

PostgreSQL tests use a database made for this run, migrated as the owner (the
superuser here) and used by the app through a login role that belongs to
``sentra_app``: no ownership, no BYPASSRLS. So every app test on PostgreSQL also
runs under row-level security. With ``CI=true`` an unreachable PostgreSQL or Redis
fails the run instead of skipping.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient

# Nothing from the developer's environment may steer the tests.
for _var in (
    "DATABASE_URL",
    "MIGRATION_DATABASE_URL",
    "REDIS_URL",
    "STORAGE_URL",
    "MAIL_URL",
    "S3_ENDPOINT_URL",
    "SECRET_KEY",
    "SENTRA_ENV",
    "DATA_KEYS",
):
    os.environ.pop(_var, None)
_INSTANCE = Path(tempfile.mkdtemp(prefix="sentra-test-instance-"))
os.environ["SENTRA_INSTANCE_PATH"] = str(_INSTANCE)

CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
APP_LOGIN_ROLE = "sentra_test_app"

pytest_plugins = ["tests.fixtures"]


def unavailable(what: str, why: str):
    """Skip a test whose service is missing, except under CI where that is a failure."""
    message = f"{what} not reachable ({why})"
    if CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def base_config(tmp: Path) -> dict:
    return {
        "TESTING": True,
        "SENTRA_ENV": "testing",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-anything",
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_ENABLED": False,
        "MAIL_URL": f"file://{tmp / 'outbox'}",
        "STORAGE_URL": f"file://{tmp / 'files'}",
        "REDIS_URL": None,
        "RATELIMIT_STORAGE_URI": "memory://",
        "BASE_URL": "http://localhost",
        "SERVER_NAME": None,
        # Assertions read English, the source language; the product's default is
        # Indonesian, and the tests that check Indonesian ask for it (lang=id).
        "BABEL_DEFAULT_LOCALE": "en",
    }


def migrate_database(url: str) -> None:
    """Build the schema by running the migrations, as deploys do."""
    from flask_migrate import upgrade

    from core.app import create_app

    app = create_app(
        {**base_config(_INSTANCE), "SQLALCHEMY_DATABASE_URI": url, "MIGRATION_DATABASE_URL": url}
    )
    with app.app_context():
        upgrade()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrate_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres():
    """A migrated PostgreSQL database for this run: (owner URL, app-role URL)."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        unavailable("PostgreSQL", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    name = f"sentra_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    owner_url = _psycopg_url(f"{base}/{name}")
    try:
        migrate_database(owner_url)
        with psycopg.connect(f"{base}/{name}", autocommit=True) as conn:
            conn.execute(_SNAPSHOT_SQL)
            conn.execute(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                f"'{APP_LOGIN_ROLE}') THEN CREATE ROLE {APP_LOGIN_ROLE} LOGIN NOBYPASSRLS "
                f"IN ROLE sentra_app; END IF; END $$"
            )
        user_part = base.split("://", 1)[1].split("@", 1)[1]
        app_url = _psycopg_url(f"postgresql://{APP_LOGIN_ROLE}@{user_part}/{name}")
        yield {"owner_url": owner_url, "app_url": app_url, "name": name}
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


SEED_SCHEMA = "test_seed"

#: Rows the migrations insert (the vaccine catalogue, ...) are kept in SEED_SCHEMA and
#: put back after each test, so every test starts from exactly a freshly migrated DB.
_SNAPSHOT_SQL = f"""
DO $$
DECLARE t text;
BEGIN
    CREATE SCHEMA IF NOT EXISTS {SEED_SCHEMA};
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'public' AND tablename <> 'alembic_version' LOOP
        EXECUTE format('CREATE TABLE {SEED_SCHEMA}.%I AS TABLE public.%I', t, t);
    END LOOP;
END $$;
"""

# One round trip: DELETE is far cheaper than TRUNCATE for the few rows a test writes
# (no new relation files, no exclusive locks); replica mode skips FK triggers so the
# order does not matter.
_RESET_SQL = f"""
DO $$
DECLARE t text;
BEGIN
    PERFORM set_config('session_replication_role', 'replica', true);
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = 'public' AND tablename <> 'alembic_version' LOOP
        EXECUTE format('DELETE FROM public.%I', t);
    END LOOP;
    FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = '{SEED_SCHEMA}' LOOP
        IF to_regclass(format('public.%I', t)) IS NOT NULL THEN
            EXECUTE format('INSERT INTO public.%I SELECT * FROM {SEED_SCHEMA}.%I', t, t);
        END IF;
    END LOOP;
END $$;
"""


def reset_database(owner_url: str) -> None:
    """Put the database back to its freshly migrated state (as the owner, past RLS)."""
    import psycopg

    with psycopg.connect(owner_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(_RESET_SQL)


# Kept for tests that empty the database themselves.
truncate_all = reset_database


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def database_url(backend, request, tmp_path, sqlite_template):
    """The URL the app uses in this test, on a database emptied for it."""
    if backend == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    pg = request.getfixturevalue("postgres")
    yield pg["app_url"]
    reset_database(pg["owner_url"])


@pytest.fixture
def app_config(database_url, tmp_path) -> dict:
    """Settings for this test's app; tests may change them before asking for ``app``."""
    return {
        **base_config(tmp_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MIGRATION_DATABASE_URL": database_url,
    }


@pytest.fixture
def app(app_config):
    from core.app import create_app
    from core.extensions import db

    app = create_app(app_config)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


class IsolatedClient(FlaskClient):
    """Each request gets its own app context, as in production.

    The ``app`` fixture keeps an app context open for the test body; without this, a
    request would reuse it and share ``g`` (Flask-Login's cached user, the tenant) and
    the database session with the test and with earlier requests.
    """

    #: Post forms with a valid CSRF token, as a browser would after loading the form.
    #: CSRF is on in tests, so every form test also proves the form accepts its token;
    #: tests of the refusal itself set this to False.
    auto_csrf = True

    def open(self, *args, **kwargs):
        self._add_csrf_token(args, kwargs)
        with self.application.app_context():
            return super().open(*args, **kwargs)

    def _add_csrf_token(self, args, kwargs) -> None:
        method = kwargs.get("method", "GET").upper()
        path = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "")
        if (
            not self.auto_csrf
            or method in ("GET", "HEAD", "OPTIONS")
            or not self.application.config.get("WTF_CSRF_ENABLED", True)
            or path.startswith("/api/")  # bearer tokens, no cookies: CSRF-exempt
        ):
            return
        data = kwargs.get("data")
        if isinstance(data, dict) and "csrf_token" not in data:
            kwargs["data"] = {**data, "csrf_token": self.csrf_token()}
        elif data is None and "json" in kwargs:
            headers = dict(kwargs.get("headers") or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        elif data is None:  # a form with no fields but its token (a button)
            kwargs["data"] = {"csrf_token": self.csrf_token()}

    def csrf_token(self) -> str:
        """A token for this client's session, made the way Flask-WTF makes it."""
        from itsdangerous import URLSafeTimedSerializer

        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", secrets.token_hex(20))
        secret = self.application.config.get("WTF_CSRF_SECRET_KEY") or self.application.secret_key
        return URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)


@pytest.fixture
def indonesian_by_default(app):
    """The product's real default language (the suite otherwise reads English)."""
    app.config["BABEL_DEFAULT_LOCALE"] = "id"


@pytest.fixture
def client(app):
    app.test_client_class = IsolatedClient
    return app.test_client()


def racing_app(postgres: dict, tmp_path: Path, connections: int, **config):
    """For a module's own fixture: an app on PostgreSQL (the app role, under RLS) with
    ``connections`` pooled connections, so threads racing each other each hold one;
    the tables are emptied after the test. ``config`` adds settings.

        @pytest.fixture
        def pg_app(postgres, tmp_path):
            yield from racing_app(postgres, tmp_path, THREADS + 2)
    """
    from core.app import create_app
    from core.extensions import db

    app = create_app(
        {
            **base_config(tmp_path),
            "SQLALCHEMY_DATABASE_URI": postgres["app_url"],
            "MIGRATION_DATABASE_URL": postgres["owner_url"],
            "SQLALCHEMY_ENGINE_OPTIONS": {
                "pool_size": connections,
                "max_overflow": 0,
                "pool_timeout": 60,
            },
            **config,
        }
    )
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    truncate_all(postgres["owner_url"])


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis (database 15, flushed), skipped without one unless CI."""
    from redis import Redis

    try:
        conn = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        conn.ping()
    except Exception as exc:
        unavailable("Redis", str(exc))
    conn.flushdb()
    conn.close()
    return REDIS_URL
