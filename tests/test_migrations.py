"""The migrations build exactly the schema the models describe, and can be undone.

Each backend gets an empty database of its own (a SQLite file; a throwaway
PostgreSQL database), upgraded to head by Alembic. Autogenerate is then run the
way `flask db migrate` runs it, through ``migrations/env.py`` and its migration
context, and must find nothing to do: a model change without a migration fails
here. Then ``downgrade base`` must leave no table behind and ``upgrade head`` must
work again on the emptied database.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from flask import current_app

from core.app import create_app
from core.extensions import db
from tests.conftest import PG_ADMIN_URL
from tests.conftest import base_config
from tests.conftest import unavailable


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    """The URL of an empty database that only this test uses."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        unavailable("PostgreSQL", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    name = f"sentra_migrations_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def migrations(empty_database, tmp_path):
    """An app context on the empty database, and the Alembic config `flask db` uses."""
    app = create_app(
        {
            **base_config(tmp_path),
            "SQLALCHEMY_DATABASE_URI": empty_database,
            "MIGRATION_DATABASE_URL": empty_database,
        }
    )
    with app.app_context():
        yield current_app.extensions["migrate"].migrate.get_config()
        db.session.remove()
        db.engine.dispose()


def autogenerate_diff(config, metadata: sa.MetaData | None = None) -> list:
    """What `flask db migrate` would write, computed through env.py's migration context."""
    script = ScriptDirectory.from_config(config)
    diffs: list = []

    def compare(revision, context):
        diffs.extend(compare_metadata(context, metadata or context.opts["target_metadata"]))
        return []

    with EnvironmentContext(config, script, fn=compare):
        script.run_env()
    return diffs


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def scalar(url: str, sql: str):
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def current_revision() -> str | None:
    return scalar(_url(), "SELECT version_num FROM alembic_version")


def _url() -> str:
    return current_app.config["MIGRATION_DATABASE_URL"]


def test_models_and_migrations_agree(migrations):
    command.upgrade(migrations, "head")
    assert autogenerate_diff(migrations) == []
    # Every model's table was made by a migration (the comparison above is not vacuous).
    assert set(db.metadata.tables) <= tables(_url())
    assert {"tenant", "user_account", "venue"} <= set(db.metadata.tables)


def test_the_comparison_sees_a_missing_migration(migrations):
    """A model table no migration created is reported: the check above can fail."""
    command.upgrade(migrations, "head")
    metadata = sa.MetaData()
    for table in db.metadata.tables.values():
        table.to_metadata(metadata)
    sa.Table("not_migrated", metadata, sa.Column("id", sa.Integer, primary_key=True))
    metadata.tables["venue"].append_column(sa.Column("not_migrated_column", sa.Integer))
    diffs = autogenerate_diff(migrations, metadata)
    found = set()
    for diff in diffs:
        if diff[0] == "add_table":
            found.add(("add_table", diff[1].name))
        elif diff[0] == "add_column":
            found.add(("add_column", diff[3].name))
        else:
            found.add((diff[0], None))
    assert found == {("add_table", "not_migrated"), ("add_column", "not_migrated_column")}


def test_downgrade_to_base_and_upgrade_again(migrations):
    script = ScriptDirectory.from_config(migrations)
    head = script.get_current_head()
    command.upgrade(migrations, "head")
    assert current_revision() == head

    command.downgrade(migrations, "base")
    assert tables(_url()) <= {"alembic_version"}
    assert current_revision() is None

    command.upgrade(migrations, "head")
    assert current_revision() == head
    assert autogenerate_diff(migrations) == []
    if db.engine.dialect.name == "postgresql":
        # The row-level security made by the migrations is back too.
        sql = "SELECT relforcerowsecurity FROM pg_class WHERE oid = 'venue'::regclass"
        assert scalar(_url(), sql) is True


def test_the_migration_chain_is_linear(tmp_path):
    """One head, and every revision but the first has exactly one parent."""
    app = create_app({**base_config(tmp_path), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        config = current_app.extensions["migrate"].migrate.get_config()
        script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}"
    for revision in script.walk_revisions():
        assert not isinstance(revision.down_revision, tuple | list), revision.revision
