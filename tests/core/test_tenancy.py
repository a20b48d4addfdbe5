"""Proof of tenant isolation: the three walls of docs/architecture.md, each shown to hold.

1. Scoped sessions (every backend): inside ``tenant_context(a)`` the ORM sees, changes
   and creates only tenant A's rows, and outside any context it refuses to run.
2. Composite keys (PostgreSQL here; SQLite enforces the same keys): a row of tenant A
   cannot point at tenant B's row.
3. Row-level security (PostgreSQL only): raw SQL as the application role, which
   bypasses the ORM entirely, sees only the tenant set for the transaction, and
   nothing when none is set.

The ORM tests use the ``app`` fixture, so on PostgreSQL they also run as the
application role under row-level security. The tests marked ``postgres`` talk to the
database directly and never run on SQLite.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import errors as pg_errors
from sqlalchemy.orm import aliased

from core.app import import_models
from core.extensions import db
from core.models import Tenant
from core.tenancy import Scope
from core.tenancy import TenantOwned
from core.tenancy import UnscopedQueryError
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from onboarding.venues.models import Venue
from tests.conftest import APP_LOGIN_ROLE
from tests.conftest import truncate_all

VENUE_NAMES = ("Main hall", "Annex")


def _venue(name: str, **kwargs) -> Venue:
    return Venue(
        name=name, address="Jl. Sudirman 1", province="DKI Jakarta", city="Jakarta", **kwargs
    )


@pytest.fixture
def tenants(app, create_tenant):
    """Ids of tenants A and B, and of their two venues each (same names in both)."""
    ids = {}
    for slug in ("tenant-a", "tenant-b"):
        tenant_id = create_tenant(slug).id
        with tenant_context(tenant_id):
            venues = [_venue(name) for name in VENUE_NAMES]
            db.session.add_all(venues)
            db.session.flush()
            ids[tenant_id] = {v.id for v in venues}
            db.session.commit()
    # A new request starts with an empty identity map: nothing loaded above leaks in.
    db.session.expunge_all()
    (a, a_ids), (b, b_ids) = ids.items()
    return a, b, a_ids, b_ids


def _all_venues() -> list[Venue]:
    with cross_tenant(Scope.REVIEW):
        return db.session.scalars(sa.select(Venue)).all()


# --- Wall 1: the scoped ORM session (SQLite and PostgreSQL) -------------------------------


def test_select_sees_only_the_context_tenant(tenants):
    a, b, a_ids, b_ids = tenants
    with tenant_context(a):
        venues = db.session.scalars(sa.select(Venue)).all()
        assert {v.id for v in venues} == a_ids
        assert {v.tenant_id for v in venues} == {a}
        # Filtering explicitly by B's id finds nothing either: the scope is added, not replaced.
        assert db.session.scalars(sa.select(Venue).where(Venue.tenant_id == b)).all() == []
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Venue)) == len(a_ids)
    with tenant_context(b):
        assert {v.id for v in db.session.scalars(sa.select(Venue))} == b_ids


def test_get_by_primary_key_of_another_tenant_finds_nothing(tenants):
    a, b, a_ids, b_ids = tenants
    with tenant_context(a):
        for venue_id in b_ids:
            assert db.session.get(Venue, (b, venue_id)) is None
            # B's id under A's tenant id names no row at all.
            assert db.session.get(Venue, (a, venue_id)) is None
        own = next(iter(a_ids))
        assert db.session.get(Venue, (a, own)).id == own


def test_joins_and_aliases_stay_inside_the_tenant(tenants):
    a, _, a_ids, _ = tenants
    with tenant_context(a):
        rows = db.session.execute(
            sa.select(Venue.id, Tenant.slug).join(Tenant, Tenant.id == Venue.tenant_id)
        ).all()
        assert {r.id for r in rows} == a_ids
        assert {r.slug for r in rows} == {"tenant-a"}
        # Both tenants have venues of the same names: a self-join on the name must pair
        # A's venues only with A's, on the aliased side too.
        other = aliased(Venue)
        pairs = db.session.execute(
            sa.select(Venue.tenant_id, other.tenant_id).join(other, other.name == Venue.name)
        ).all()
        assert len(pairs) == len(VENUE_NAMES)
        assert {t for pair in pairs for t in pair} == {a}
        # A subquery is scoped as well.
        sub = sa.select(Venue.id).where(Venue.name == VENUE_NAMES[0]).scalar_subquery()
        assert db.session.scalars(sa.select(Venue.tenant_id).where(Venue.id.in_(sub))).all() == [a]


def test_orm_update_and_delete_statements_touch_only_the_context_tenant(tenants):
    a, _, a_ids, b_ids = tenants
    with tenant_context(a):
        result = db.session.execute(sa.update(Venue).values(visitor_notes="changed by A"))
        assert result.rowcount == len(a_ids)
        db.session.commit()
    notes = {v.id: v.visitor_notes for v in _all_venues()}
    assert {notes[i] for i in a_ids} == {"changed by A"}
    assert {notes[i] for i in b_ids} == {None}

    with tenant_context(a):
        result = db.session.execute(sa.delete(Venue).where(Venue.name == VENUE_NAMES[0]))
        assert result.rowcount == 1
        db.session.commit()
    remaining = _all_venues()
    assert len(remaining) == 2 * len(VENUE_NAMES) - 1
    assert {v.id for v in remaining} >= b_ids


def test_queries_outside_any_context_are_refused(tenants):
    a, _, a_ids, _ = tenants
    with pytest.raises(UnscopedQueryError):
        db.session.scalars(sa.select(Venue)).all()
    with pytest.raises(UnscopedQueryError):
        db.session.get(Venue, (a, next(iter(a_ids))))
    with pytest.raises(UnscopedQueryError):
        db.session.execute(sa.update(Venue).values(visitor_notes="nobody's"))
    with pytest.raises(UnscopedQueryError):
        db.session.execute(sa.delete(Venue))
    db.session.rollback()
    # Leaving a context restores the unscoped state: the refusal comes back.
    with tenant_context(a):
        assert len(db.session.scalars(sa.select(Venue)).all()) == len(a_ids)
    with pytest.raises(UnscopedQueryError):
        db.session.scalars(sa.select(Venue)).all()


def test_new_rows_take_the_context_tenant(tenants):
    a, b, a_ids, _ = tenants
    with tenant_context(a):
        venue = _venue("New tent")
        db.session.add(venue)
        db.session.flush()
        assert venue.tenant_id == a
        db.session.commit()
    with tenant_context(a):
        assert len(db.session.scalars(sa.select(Venue)).all()) == len(a_ids) + 1
    with tenant_context(b):
        assert "New tent" not in {v.name for v in db.session.scalars(sa.select(Venue))}


def test_a_new_row_without_a_context_is_refused(tenants):
    db.session.add(_venue("Orphan"))
    with pytest.raises(UnscopedQueryError):
        db.session.flush()
    db.session.rollback()


def test_a_row_for_another_tenant_is_refused_inside_a_context(tenants):
    a, b, _, b_ids = tenants
    with tenant_context(a):
        db.session.add(_venue("Smuggled", tenant_id=b))
        with pytest.raises(UnscopedQueryError):
            db.session.flush()
        db.session.rollback()
    with tenant_context(b):
        assert {v.id for v in db.session.scalars(sa.select(Venue))} == b_ids


def test_a_named_cross_tenant_scope_sees_every_tenant(tenants):
    a, b, a_ids, b_ids = tenants
    with cross_tenant(Scope.REVIEW):
        venues = db.session.scalars(sa.select(Venue)).all()
        assert {v.id for v in venues} == a_ids | b_ids
        assert {v.tenant_id for v in venues} == {a, b}


# --- Wall 2 in the schema: every tenant-owned table is keyed by its tenant -----------------

#: Unique keys on tenant-owned tables that deliberately do not include tenant_id, because
#: the row is looked up before any tenant is known. Each blocks distributing its table on
#: Citus as it stands (platform/scaling.md says what to do); add one here only knowingly.
GLOBAL_UNIQUE_KEYS = {
    ("api_key", ("prefix",)),  # an API request names its key before its tenant
    ("invitation", ("token_hash",)),  # an invitation link names no tenant
}


def _tenant_owned_tables() -> list[str]:
    import_models()
    tables = {
        mapper.local_table.name
        for mapper in db.Model.registry.mappers
        if issubclass(mapper.class_, TenantOwned)
    }
    return sorted(tables)


def test_foreign_keys_between_tenant_owned_tables_include_the_tenant():
    owned = set(_tenant_owned_tables())
    checked = 0
    for name in owned:
        for fk in db.metadata.tables[name].foreign_key_constraints:
            if fk.referred_table.name not in owned:
                continue
            columns = [c.name for c in fk.columns]
            referred = [e.column.name for e in fk.elements]
            assert "tenant_id" in columns, f"{name} → {fk.referred_table.name}: use tenant_fk()"
            assert referred[columns.index("tenant_id")] == "tenant_id", (name, columns, referred)
            checked += 1
    assert checked, "no foreign key between tenant-owned tables was found to check"


def test_unique_keys_of_tenant_owned_tables_include_the_tenant():
    found_global = set()
    for name in _tenant_owned_tables():
        table = db.metadata.tables[name]
        keys = [c for c in table.constraints if isinstance(c, sa.UniqueConstraint)]
        keys += [ix for ix in table.indexes if ix.unique]
        assert [c.name for c in table.primary_key.columns] == ["tenant_id", "id"], name
        for key in keys:
            columns = tuple(c.name for c in key.columns)
            if "tenant_id" not in columns:
                found_global.add((name, columns))
    unexpected = found_global - GLOBAL_UNIQUE_KEYS
    assert not unexpected, f"unique keys without tenant_id: {sorted(unexpected)}"


# --- PostgreSQL: walls two and three, below the ORM ---------------------------------------


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def pg(postgres):
    """Raw connections to this run's database: ``owner()`` and ``app()`` (the app role)."""
    opened = []

    def connect(url):
        conn = psycopg.connect(_plain(url))
        opened.append(conn)
        return conn

    yield {
        "owner": lambda: connect(postgres["owner_url"]),
        "app": lambda: connect(postgres["app_url"]),
        **postgres,
    }
    for conn in opened:
        conn.close()
    truncate_all(postgres["owner_url"])


INSERT_TENANT = (
    "INSERT INTO tenant (id, slug, name, kind, status, created_at) "
    "VALUES (%s, %s, %s, 'clinic', 'active', now())"
)
INSERT_VENUE = (
    "INSERT INTO venue (tenant_id, id, name, address, province, city, opening_hours, "
    "timezone, stations, status, created_at) VALUES (%s, %s, %s, 'Jl. Merdeka 1', "
    "'DKI Jakarta', 'Jakarta', '{}', 'Asia/Jakarta', 1, 'draft', now())"
)
SET_TENANT = "SELECT set_config('app.tenant_id', %s, true)"


@pytest.fixture
def raw_tenants(pg):
    """Tenants A and B with one venue each, written by the app role under RLS."""
    a, b = uuid.uuid4(), uuid.uuid4()
    venues = {a: uuid.uuid4(), b: uuid.uuid4()}
    with pg["app"]() as conn:
        for tenant_id, slug in ((a, "raw-a"), (b, "raw-b")):
            conn.execute(INSERT_TENANT, (tenant_id, slug, slug.upper()))
            with conn.transaction():
                conn.execute(SET_TENANT, (str(tenant_id),))
                conn.execute(INSERT_VENUE, (tenant_id, venues[tenant_id], f"Venue of {slug}"))
        conn.commit()
    return a, b, venues


@pytest.mark.postgres
def test_raw_sql_as_app_role_sees_only_the_tenant_set(pg, raw_tenants):
    a, b, venues = raw_tenants
    with pg["app"]() as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == APP_LOGIN_ROLE
        with conn.transaction():
            conn.execute(SET_TENANT, (str(a),))
            rows = conn.execute("SELECT tenant_id, id FROM venue").fetchall()
            assert rows == [(a, venues[a])]
            # Naming B's row outright does not help.
            assert conn.execute("SELECT * FROM venue WHERE tenant_id = %s", (b,)).fetchall() == []
        with conn.transaction():
            conn.execute(SET_TENANT, (str(b),))
            assert conn.execute("SELECT id FROM venue").fetchall() == [(venues[b],)]
    # The owner (here a superuser) sees both: the rows are there, RLS hides them.
    with pg["owner"]() as conn:
        assert conn.execute("SELECT count(*) FROM venue").fetchone()[0] == 2


@pytest.mark.postgres
def test_raw_sql_with_no_tenant_set_sees_nothing(pg, raw_tenants):
    a, _, _ = raw_tenants
    with pg["app"]() as conn:
        # A fresh connection: the setting does not exist at all.
        assert conn.execute("SELECT current_setting('app.tenant_id', true)").fetchone()[0] is None
        assert conn.execute("SELECT * FROM venue").fetchall() == []
        # The same for writes: nothing to update or delete.
        assert conn.execute("UPDATE venue SET visitor_notes = 'x'").rowcount == 0
        assert conn.execute("DELETE FROM venue").rowcount == 0
        conn.rollback()
        # And inserting with no tenant set is refused outright.
        with pytest.raises(pg_errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(INSERT_VENUE, (a, uuid.uuid4(), "No tenant set"))
        conn.rollback()


@pytest.mark.postgres
def test_insert_for_another_tenant_is_refused_by_the_policy(pg, raw_tenants):
    a, b, venues = raw_tenants
    with pg["app"]() as conn:
        conn.execute(SET_TENANT, (str(a),))
        with pytest.raises(pg_errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(INSERT_VENUE, (b, uuid.uuid4(), "Smuggled into B"))
        conn.rollback()
        # Moving one's own row to another tenant is refused the same way (WITH CHECK).
        conn.execute(SET_TENANT, (str(a),))
        with pytest.raises(pg_errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("UPDATE venue SET tenant_id = %s WHERE id = %s", (b, venues[a]))
        conn.rollback()
        # The same insert for A itself is accepted: the refusal above was about the tenant.
        conn.execute(SET_TENANT, (str(a),))
        conn.execute(INSERT_VENUE, (a, uuid.uuid4(), "A's second venue"))
        conn.commit()
    with pg["owner"]() as conn:
        counts = dict(conn.execute("SELECT tenant_id, count(*) FROM venue GROUP BY 1").fetchall())
    assert counts == {a: 2, b: 1}


@pytest.mark.postgres
def test_the_tenant_setting_ends_with_the_transaction_on_a_pooled_connection(pg, raw_tenants):
    a, _, venues = raw_tenants
    engine = sa.create_engine(pg["app_url"], pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            conn.execute(sa.text(SET_TENANT.replace("%s", ":t")), {"t": str(a)})
            assert conn.execute(sa.text("SELECT id FROM venue")).scalars().all() == [venues[a]]
            conn.commit()
            # After COMMIT, current_setting() gives '' (not NULL) and the policy, thanks
            # to NULLIF, still matches nothing.
            setting = conn.execute(sa.text("SELECT current_setting('app.tenant_id', true)"))
            assert setting.scalar() == ""
            assert conn.execute(sa.text("SELECT id FROM venue")).all() == []
            conn.rollback()
            conn.execute(sa.text(SET_TENANT.replace("%s", ":t")), {"t": str(a)})
            conn.rollback()
            assert conn.execute(sa.text("SELECT id FROM venue")).all() == []
        # The pool hands out the same server connection again: nothing carried over.
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() == pid
            assert conn.execute(sa.text("SELECT id FROM venue")).all() == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_app_session_sets_the_tenant_per_transaction_only(pg, raw_tenants, tmp_path):
    """The same, through the app's own session and its after_begin hook."""
    from core.app import create_app
    from tests.conftest import base_config

    a, _, venues = raw_tenants
    app = create_app(
        {
            **base_config(tmp_path),
            "SQLALCHEMY_DATABASE_URI": pg["app_url"],
            "MIGRATION_DATABASE_URL": pg["owner_url"],
        }
    )
    with app.app_context():
        try:
            setting = sa.text("SELECT current_setting('app.tenant_id', true)")
            with tenant_context(a):
                assert db.session.scalars(sa.select(Venue.id)).all() == [venues[a]]
                assert db.session.execute(setting).scalar() == str(a)
                db.session.commit()
                # A new transaction inside the context sets the tenant again.
                assert db.session.execute(setting).scalar() == str(a)
                db.session.commit()
            assert db.session.execute(setting).scalar() in ("", None)
            assert db.session.execute(sa.text("SELECT id FROM venue")).all() == []
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.postgres
def test_a_composite_foreign_key_refuses_a_cross_tenant_reference(pg, raw_tenants):
    a, b, venues = raw_tenants
    with pg["owner"]() as owner:
        # No tenant-owned table references venue yet: make one the way migrations would
        # (through core.tenancy.tenant_fk), as the owner, for this test only.
        owner.execute(
            "CREATE TABLE tenancy_probe (tenant_id uuid NOT NULL REFERENCES tenant (id), "
            "id uuid NOT NULL, venue_id uuid NOT NULL, PRIMARY KEY (tenant_id, id), "
            "FOREIGN KEY (tenant_id, venue_id) REFERENCES venue (tenant_id, id))"
        )
        owner.execute("GRANT SELECT, INSERT ON tenancy_probe TO sentra_app")
        owner.commit()
        try:
            with pg["app"]() as conn:
                conn.execute(SET_TENANT, (str(a),))
                # A's row pointing at B's venue: the row itself is A's, so RLS would let it
                # through; the key (tenant_id, venue_id) names no venue of A.
                with pytest.raises(pg_errors.ForeignKeyViolation):
                    conn.execute(
                        "INSERT INTO tenancy_probe VALUES (%s, %s, %s)",
                        (a, uuid.uuid4(), venues[b]),
                    )
                conn.rollback()
                conn.execute(SET_TENANT, (str(a),))
                conn.execute(
                    "INSERT INTO tenancy_probe VALUES (%s, %s, %s)", (a, uuid.uuid4(), venues[a])
                )
                conn.commit()
            # Even the owner, who skips RLS, cannot make the cross-tenant reference.
            with pytest.raises(pg_errors.ForeignKeyViolation):
                owner.execute(
                    "INSERT INTO tenancy_probe VALUES (%s, %s, %s)", (a, uuid.uuid4(), venues[b])
                )
            owner.rollback()
        finally:
            owner.execute("DROP TABLE IF EXISTS tenancy_probe")
            owner.commit()


@pytest.mark.postgres
def test_every_tenant_owned_table_is_behind_forced_row_level_security(pg):
    tables = _tenant_owned_tables()
    assert "venue" in tables  # the enumeration finds the models, so the loop below has work
    with pg["owner"]() as conn:
        for table in tables:
            row = conn.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = %s::regclass",
                (f"public.{table}",),
            ).fetchone()
            assert row == (True, True), f"{table}: RLS must be ENABLEd and FORCEd"
            policy = conn.execute(
                "SELECT cmd, qual, with_check FROM pg_policies WHERE schemaname = 'public' "
                "AND tablename = %s AND policyname = 'tenant_isolation'",
                (table,),
            ).fetchone()
            assert policy is not None, f"{table}: no tenant_isolation policy"
            cmd, qual, with_check = policy
            assert cmd == "ALL", f"{table}: tenant_isolation must cover every command"
            assert "app_tenant_id()" in qual and "tenant_id" in qual, (table, qual)
            assert with_check is not None and "app_tenant_id()" in with_check, (table, with_check)


@pytest.mark.postgres
def test_the_app_role_is_powerless_outside_the_policies(pg):
    with pg["owner"]() as conn:
        roles = conn.execute(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles "
            "WHERE pg_has_role(%s, oid, 'MEMBER') ORDER BY rolname",
            (APP_LOGIN_ROLE,),
        ).fetchall()
        names = [r[0] for r in roles]
        assert "sentra_app" in names and APP_LOGIN_ROLE in names
        for name, superuser, bypassrls in roles:
            assert not superuser, f"{name} is a superuser"
            assert not bypassrls, f"{name} has BYPASSRLS"
        owned = conn.execute(
            "SELECT c.relname FROM pg_class c WHERE pg_has_role(%s, c.relowner, 'MEMBER')",
            (APP_LOGIN_ROLE,),
        ).fetchall()
        assert owned == [], f"the app role owns {owned}"
        # The schema's tables are owned by someone, just not by the app role.
        assert (
            conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'venue'").fetchone()[0]
            not in names
        )
    with pg["app"]() as conn:
        assert conn.execute("SHOW is_superuser").fetchone()[0] == "off"
        # Not being the owner, it cannot switch the policies off.
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE venue DISABLE ROW LEVEL SECURITY")
        conn.rollback()
        with pytest.raises(pg_errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE venue NO FORCE ROW LEVEL SECURITY")
        conn.rollback()


@pytest.mark.postgres
def test_the_audit_log_is_append_only_for_the_app_role(pg):
    with pg["app"]() as conn:
        entry = uuid.uuid4()
        conn.execute(
            "INSERT INTO audit_log (id, at, action, data) VALUES (%s, now(), %s, '{}')",
            (entry, "tests.audit.appended"),
        )
        conn.commit()
        for statement in (
            "UPDATE audit_log SET action = 'tests.audit.rewritten'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(pg_errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
    with pg["owner"]() as conn:
        assert conn.execute("SELECT action FROM audit_log WHERE id = %s", (entry,)).fetchall() == [
            ("tests.audit.appended",)
        ]


def test_get_does_not_hand_out_another_tenants_object_from_the_identity_map(app):
    """session.get() answers from the identity map without SQL; entering a tenant's
    scope must forget rows loaded for another."""
    import sqlalchemy as sa

    from core.models import Tenant
    from core.models import TenantKind
    from core.tenancy import Scope
    from core.tenancy import cross_tenant
    from core.tenancy import tenant_context
    from onboarding.venues.models import Venue

    a = Tenant(slug="idmap-a", name="A", kind=TenantKind.CLINIC)
    b = Tenant(slug="idmap-b", name="B", kind=TenantKind.CLINIC)
    db.session.add_all([a, b])
    db.session.flush()
    with tenant_context(b):
        venue_b = Venue(name="B hall", address="x", province="Bali", city="Denpasar")
        db.session.add(venue_b)
        db.session.flush()
        key = (b.id, venue_b.id)
    db.session.commit()
    with cross_tenant(Scope.REVIEW):
        assert db.session.scalars(sa.select(Venue)).all()  # B's venue now in the identity map
        with tenant_context(a):
            assert db.session.get(Venue, key) is None
