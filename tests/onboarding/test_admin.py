"""Platform admin: tenant search, suspend/reactivate, audit trail, reviewers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.models import AuditEntry
from core.models import PlatformRole
from core.models import Role
from core.models import Tenant
from core.models import TenantStatus
from core.models import User
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from onboarding.admin.services import tenant_can_take_bookings
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueStatus
from tests.fixtures import PASSWORD
from tests.onboarding.helpers import link_path
from tests.onboarding.helpers import sent_mail


@pytest.fixture
def operator(create_user):
    return create_user("ops@sentra.test", platform_role=PlatformRole.PLATFORM_ADMIN)


def test_only_platform_admins_enter(client, create_user, login, operator):
    assert "/sign-in" in client.get("/admin/").location
    login(client, create_user(platform_role=PlatformRole.REVIEWER))
    assert client.get("/admin/").status_code == 403
    login(client, operator)
    assert client.get("/admin/").status_code == 200


def test_search_filters_and_paginates(client, create_tenant, login, operator):
    create_tenant("klinik-sehat", name="Klinik Sehat Sentosa")
    create_tenant("rs-harapan", name="RS Harapan Kita", status=TenantStatus.PENDING)
    create_tenant("pt-maju", name="PT Maju Bersama", status=TenantStatus.SUSPENDED)
    for n in range(30):
        create_tenant(f"bulk-{n:02d}", name=f"Bulk {n:02d}")
    login(client, operator)
    page = client.get("/admin/?q=SEHAT").get_data(as_text=True)
    assert 'data-tenant="klinik-sehat"' in page and 'data-tenant="rs-harapan"' not in page
    page = client.get("/admin/?q=rs-har").get_data(as_text=True)
    assert 'data-tenant="rs-harapan"' in page and 'data-tenant="klinik-sehat"' not in page
    page = client.get("/admin/?status=suspended").get_data(as_text=True)
    assert 'data-tenant="pt-maju"' in page and page.count("data-tenant=") == 1
    # A literal % matches only itself, not everything.
    assert client.get("/admin/?q=%25").get_data(as_text=True).count("data-tenant=") == 0
    first = client.get("/admin/").get_data(as_text=True)
    second = client.get("/admin/?page=2").get_data(as_text=True)
    assert first.count("data-tenant=") == 25 and second.count("data-tenant=") == 8
    assert 'rel="next"' in first and 'rel="next"' not in second
    assert client.get("/admin/?page=abc").status_code == 200  # bad input: first page


def test_suspend_and_reactivate(app, client, create_tenant, create_user, login, operator):
    tenant = create_tenant("acme", status=TenantStatus.ACTIVE)
    owner = create_user("owner@acme.test", tenant=tenant, role=Role.OWNER)
    checkin = create_user("checkin@acme.test", tenant=tenant, role=Role.CHECKIN)
    with tenant_context(tenant):
        db.session.add(
            Venue(
                name="Aula",
                address="Jl. 1",
                province="Bali",
                city="Denpasar",
                status=VenueStatus.APPROVED,
            )
        )
        db.session.commit()
    assert tenant_can_take_bookings(tenant)
    login(client, operator)
    # A reason is required.
    assert (
        client.post(f"/admin/tenants/{tenant.id}/suspend", data={"reason": ""}).status_code == 422
    )
    reason = "Permit letter found to be forged; contact the ministry."
    response = client.post(f"/admin/tenants/{tenant.id}/suspend", data={"reason": reason})
    assert response.status_code == 302
    db.session.refresh(tenant)
    assert tenant.status == TenantStatus.SUSPENDED and tenant.status_reason == reason
    assert not tenant_can_take_bookings(tenant)
    assert reason in sent_mail(app, "owner@acme.test")[-1].get_body(("plain",)).get_content()
    assert sent_mail(app, "checkin@acme.test") == []
    # Suspending twice is refused, with the rule's message.
    again = client.post(f"/admin/tenants/{tenant.id}/suspend", data={"reason": reason})
    assert again.status_code == 409
    # The owner sees why on the console; check-in staff see the suspension only.
    login(client, owner)
    assert reason in client.get("/o/acme/").get_data(as_text=True)
    login(client, checkin)
    page = client.get("/o/acme/").get_data(as_text=True)
    assert "suspended" in page and reason not in page
    # Reactivated: active again, because a venue is approved.
    login(client, operator)
    response = client.post(
        f"/admin/tenants/{tenant.id}/reactivate", data={"reason": "Cleared by ministry."}
    )
    assert response.status_code == 302
    db.session.refresh(tenant)
    assert tenant.status == TenantStatus.ACTIVE and tenant.status_reason is None
    # The audit trail shows both, to the operator.
    trail = client.get(f"/admin/tenants/{tenant.id}/audit").get_data(as_text=True)
    assert "onboarding.tenant.suspended" in trail and "onboarding.tenant.reactivated" in trail
    assert "ops@sentra.test" in trail


def test_reactivating_a_tenant_without_approved_venue_makes_it_pending(
    client, create_tenant, login, operator
):
    tenant = create_tenant("fresh", status=TenantStatus.SUSPENDED, status_reason="spam")
    login(client, operator)
    client.post(f"/admin/tenants/{tenant.id}/reactivate", data={"reason": "Looks legitimate now."})
    db.session.refresh(tenant)
    assert tenant.status == TenantStatus.PENDING


def test_tenant_detail_and_unknown_ids(client, create_tenant, create_user, login, operator):
    tenant = create_tenant("acme")
    create_user("owner@acme.test", tenant=tenant, role=Role.OWNER)
    with tenant_context(tenant):
        db.session.add(
            Venue(name="Gedung Serbaguna", address="Jl. 2", province="Bali", city="Badung")
        )
        db.session.commit()
    login(client, operator)
    page = client.get(f"/admin/tenants/{tenant.id}").get_data(as_text=True)
    assert "owner@acme.test" in page and "Gedung Serbaguna" in page
    assert client.get("/admin/tenants/not-a-uuid").status_code == 404
    assert client.get("/admin/tenants/01a20000-0000-7000-8000-000000000000").status_code == 404


def test_reviewer_creation_sets_password_by_link_and_disable_signs_out(
    app, client, create_user, login, operator
):
    login(client, operator)
    response = client.post("/admin/reviewers", data={"email": "Rina@Kemkes.test", "name": "Rina"})
    assert response.status_code == 302
    reviewer = db.session.scalar(sa.select(User).where(User.email == "rina@kemkes.test"))
    assert reviewer.platform_role == PlatformRole.REVIEWER
    assert reviewer.needs_totp
    # No password works until the reviewer chooses one.
    signin = app.test_client().post(
        "/sign-in", data={"email": "rina@kemkes.test", "password": PASSWORD}
    )
    assert signin.status_code == 422, signin.status_code
    mail = sent_mail(app, "rina@kemkes.test")[-1]
    path = link_path(mail, "/reset-password/")
    assert client.get(path).status_code == 200
    # The same email twice is refused.
    login(client, operator)
    dup = client.post("/admin/reviewers", data={"email": "rina@kemkes.test", "name": "Rina"})
    assert dup.status_code == 409
    # Choosing the password through the link works (auth's reset page).
    anonymous = app.test_client()
    chosen = anonymous.post(path, data={"password": PASSWORD})
    assert chosen.status_code in (302, 303), chosen.get_data(as_text=True)[:500]
    db.session.refresh(reviewer)
    assert reviewer.password_hash.startswith("$argon2")

    # Disabling signs the reviewer out at once and keeps them out.
    reviewer_client = app.test_client()
    login(reviewer_client, reviewer)
    assert reviewer_client.get("/review/").status_code == 200
    login(client, operator)
    assert client.post(f"/admin/reviewers/{reviewer.id}/disable").status_code == 302
    db.session.refresh(reviewer)
    assert reviewer.disabled_at is not None
    assert reviewer_client.get("/review/").status_code == 302  # to sign-in
    login(reviewer_client, reviewer)  # even a fresh session of the new version
    assert reviewer_client.get("/review/").status_code == 302
    assert client.post(f"/admin/reviewers/{reviewer.id}/enable").status_code == 302
    db.session.refresh(reviewer)
    assert reviewer.disabled_at is None
    with cross_tenant(Scope.PLATFORM):
        actions = set(
            db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.tenant_id.is_(None)))
        )
    assert {
        "onboarding.reviewer.created",
        "onboarding.reviewer.disabled",
        "onboarding.reviewer.enabled",
    } <= actions
    # Only reviewers are managed here: a platform admin's id answers 404.
    assert client.post(f"/admin/reviewers/{operator.id}/disable").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tenant)) == 0
