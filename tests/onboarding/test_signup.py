"""Organisation sign-up (slug rules included) and the console's checklist."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from core.errors import Conflict
from core.extensions import db
from core.models import AuditEntry
from core.models import Membership
from core.models import Role
from core.models import Tenant
from core.models import TenantKind
from core.models import TenantStatus
from core.signals import tenant_created
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from onboarding.signup.models import TenantContact
from onboarding.signup.queries import tenant_checklist
from onboarding.signup.schemas import slug_problem
from onboarding.signup.services import SignupError
from onboarding.signup.services import create_tenant
from onboarding.venues.models import DocumentKind
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueDocument
from onboarding.venues.models import VenueStatus

FORM = {
    "kind": "clinic",
    "legal_name": "Klinik Pratama Sehat",
    "slug": "klinik-sehat",
    "province": "Jawa Barat",
    "city": "Bandung",
    "contact_phone": "+62 22 555 0100",
}


def test_anonymous_visitor_is_sent_to_user_sign_up_or_sign_in_and_back(client):
    page = client.get("/signup/organisation").get_data(as_text=True)
    assert "/sign-up?next=/signup/organisation" in page.replace("%2F", "/")
    assert "/sign-in?next=/signup/organisation" in page.replace("%2F", "/")
    response = client.post("/signup/organisation", data=FORM)
    assert response.status_code == 302 and "/sign-in" in response.location
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tenant)) == 0


def test_a_new_visitor_signs_up_verifies_signs_in_and_comes_back(app, client):
    """The whole way in, through auth's real pages: the ``next`` survives every step."""
    from tests.fixtures import PASSWORD
    from tests.onboarding.helpers import link_path
    from tests.onboarding.helpers import sent_mail

    page = client.get("/signup/organisation").get_data(as_text=True)
    assert "/sign-up?next=/signup/organisation" in page.replace("%2F", "/")
    response = client.post(
        "/sign-up?next=%2Fsignup%2Forganisation",
        data={"name": "Dr. Sari", "email": "sari@klinik.test", "password": PASSWORD},
    )
    assert response.status_code == 302
    verify = link_path(sent_mail(app, "sari@klinik.test")[-1], "/verify-email/")
    response = client.get(verify)
    assert response.status_code == 302 and "/sign-in" in response.location
    response = client.post(
        response.location, data={"email": "sari@klinik.test", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert urlparse(response.location).path == "/signup/organisation"
    response = client.post("/signup/organisation", data=FORM)
    assert response.status_code == 302 and response.location.endswith("/o/klinik-sehat/")
    page = client.get("/o/klinik-sehat/").get_data(as_text=True)
    # Verified on the way: the checklist's first step is done, the next one is not.
    assert 'class="step step-done" data-step="verify_email"' in page
    assert 'class="step " data-step="add_venue"' in page


def test_signed_in_user_creates_a_pending_tenant_and_becomes_owner(app, client, create_user, login):
    user = create_user("owner@klinik.test")
    received = []
    tenant_created.connect(
        lambda sender, **kw: received.append((sender.slug, kw["user"].id)), weak=False
    )
    login(client, user)
    assert client.get("/signup/organisation").status_code == 200
    response = client.post("/signup/organisation", data={**FORM, "slug": "  Klinik-Sehat "})
    assert response.status_code == 302
    assert response.location.endswith("/o/klinik-sehat/")
    tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == "klinik-sehat"))
    assert tenant.status == TenantStatus.PENDING
    assert tenant.kind == TenantKind.CLINIC
    assert (tenant.name, tenant.province, tenant.city) == (
        "Klinik Pratama Sehat",
        "Jawa Barat",
        "Bandung",
    )
    assert db.session.get(Membership, (tenant.id, user.id)).role == Role.OWNER
    with tenant_context(tenant):
        contact = db.session.scalar(sa.select(TenantContact))
    assert contact.phone == "+62 22 555 0100" and contact.created_by_id == user.id
    with cross_tenant(Scope.PLATFORM):
        actions = db.session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.tenant_id == tenant.id)
        ).all()
    assert "onboarding.tenant.created" in actions
    assert ("klinik-sehat", user.id) in received
    # The console home now shows the checklist.
    page = client.get("/o/klinik-sehat/")
    assert page.status_code == 200
    assert b'data-step="add_venue"' in page.data


def test_existing_user_can_create_a_second_tenant(app, create_tenant, create_user):
    first = create_tenant("first-org")
    user = create_user(tenant=first, role=Role.OWNER)
    with app.test_request_context():
        second = create_tenant_via_service(user, slug="second-org")
    owned = db.session.scalars(
        sa.select(Membership.tenant_id).where(Membership.user_id == user.id)
    ).all()
    assert set(owned) == {first.id, second.id}


def create_tenant_via_service(user, **overrides):
    data = {**FORM, **overrides}
    data["kind"] = TenantKind(data["kind"])
    tenant = create_tenant(user, **data)
    db.session.commit()
    return tenant


@pytest.mark.parametrize(
    ("slug", "ok"),
    [
        ("abc", True),
        ("klinik-sehat-2", True),
        ("a" * 63, True),
        ("ab", False),  # too short
        ("a" * 64, False),  # too long
        ("-klinik", False),
        ("klinik-", False),
        ("klinik--sehat", False),
        ("klinik_sehat", False),
        ("klinik sehat", False),
        ("klínik", False),
        ("KLINIK", False),  # the form lower-cases; the rule itself wants lower case
        ("admin", False),
        ("api", False),
        ("review", False),
        ("static", False),
        ("sign-in", False),
        ("signup", False),
        ("www", False),
        ("help", False),
    ],
)
def test_slug_rules(slug, ok):
    assert (slug_problem(slug) is None) is ok


def test_form_reports_each_problem_and_keeps_what_was_typed(client, create_user, login):
    login(client, create_user())
    response = client.post(
        "/signup/organisation",
        data={**FORM, "slug": "admin", "kind": "bakery", "contact_phone": "call me", "city": ""},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "This address is reserved" in page
    assert 'id="kind-error"' in page
    assert 'id="contact_phone-error"' in page
    assert 'id="city-error"' in page
    assert 'value="Klinik Pratama Sehat"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tenant)) == 0


def test_taken_slug_is_refused_on_the_form_and_in_the_service(
    app, client, create_tenant, create_user, login
):
    create_tenant("klinik-sehat")
    user = create_user()
    login(client, user)
    response = client.post("/signup/organisation", data=FORM)
    assert response.status_code == 422
    assert "already taken" in response.get_data(as_text=True)
    # Services translate their messages: they run inside a request (or a job's context).
    with app.test_request_context():
        with pytest.raises(Conflict) as excinfo:
            create_tenant_via_service(user)
        assert excinfo.value.code == "slug_taken"
        db.session.rollback()
        with pytest.raises(SignupError) as excinfo:
            create_tenant_via_service(user, slug="www")
        assert excinfo.value.code == "slug_invalid"


def _steps(tenant):
    return {s.key: s for s in tenant_checklist(tenant).steps}


def test_checklist_follows_the_data(app, client, create_tenant, create_user, login):
    tenant = create_tenant("steps", status=TenantStatus.PENDING)
    owner = create_user("o@steps.test", tenant=tenant, role=Role.OWNER, verified=False)
    with app.test_request_context():
        steps = _steps(tenant)
        assert list(steps) == [
            "verify_email",
            "add_venue",
            "upload_documents",
            "submit",
            "create_campaign",
        ]
        assert not steps["verify_email"].done
        assert "o@steps.test" in steps["verify_email"].missing[0]
        assert not steps["add_venue"].done and steps["add_venue"].missing
        assert steps["create_campaign"].locked

        owner.email_verified_at = owner.created_at
        with tenant_context(tenant):
            venue = Venue(
                name="Aula Utama", address="Jl. Merdeka 1", province="Jawa Barat", city="Bandung"
            )
            db.session.add(venue)
            db.session.commit()
        steps = _steps(tenant)
        assert steps["verify_email"].done and steps["add_venue"].done
        assert not steps["upload_documents"].done
        assert "Aula Utama" in steps["upload_documents"].missing[0]
        assert "permit" in steps["upload_documents"].missing[0]

        with tenant_context(tenant):
            for kind in (DocumentKind.PHOTO_ENTRANCE, DocumentKind.PHOTO_VACCINATION_AREA):
                db.session.add(
                    VenueDocument(
                        venue_id=venue.id,
                        kind=kind,
                        version=1,
                        storage_key=f"k/{kind.value}",
                        content_type="image/jpeg",
                        size=10,
                        sha256="0" * 64,
                        original_filename="x.jpg",
                    )
                )
            db.session.commit()
        steps = _steps(tenant)
        missing = steps["upload_documents"].missing
        assert len(missing) == 1
        assert "permit" in missing[0] and "entrance" not in missing[0]
        assert not steps["submit"].done and "Aula Utama" in steps["submit"].missing[0]

        with tenant_context(tenant):
            venue.status = VenueStatus.CHANGES_REQUESTED
            db.session.commit()
        steps = _steps(tenant)
        assert steps["upload_documents"].done
        assert "asked for changes" in steps["submit"].missing[0]

        with tenant_context(tenant):
            venue.status = VenueStatus.SUBMITTED
            db.session.commit()
        steps = _steps(tenant)
        assert steps["submit"].done and steps["create_campaign"].locked

        with tenant_context(tenant):
            venue.status = VenueStatus.APPROVED
            db.session.commit()
        steps = _steps(tenant)
        assert not steps["create_campaign"].locked and not steps["create_campaign"].done
        checklist = tenant_checklist(tenant)
        assert checklist.next_step.key == "create_campaign"

    login(client, owner)
    page = client.get("/o/steps/").get_data(as_text=True)
    assert 'data-step="create_campaign"' in page
    assert "step-done" in page
