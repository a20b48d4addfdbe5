"""The ministry review console: queue, claims, decisions, emails, and what reviewers may see."""

from __future__ import annotations

import datetime as dt
import email
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.errors import Conflict
from core.extensions import db
from core.models import AuditEntry
from core.models import PlatformRole
from core.models import Role
from core.models import Tenant
from core.models import TenantKind
from core.models import TenantStatus
from core.signals import venue_approved
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from onboarding.review import services
from onboarding.review.jobs import send_reviewer_digest
from onboarding.venues.models import DocumentKind
from onboarding.venues.models import ReviewDecision
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueDocument
from onboarding.venues.models import VenueReview
from onboarding.venues.models import VenueStatus
from tests.onboarding.venue_support import jpeg_bytes
from tests.onboarding.venue_support import make_venue
from tests.onboarding.venue_support import submit
from tests.onboarding.venue_support import upload
from tests.onboarding.venue_support import upload_required

ALL_CHECKED = {f"check-{item}": "yes" for item in services.CHECKLIST}
ALL_TRUE = dict.fromkeys(services.CHECKLIST, True)


@pytest.fixture
def clinic(create_tenant, create_user):
    """A pending clinic with an owner, an admin and a coordinator, and one submitted venue."""
    tenant = create_tenant(
        "klinik-sehat", status=TenantStatus.PENDING, province="DKI Jakarta", name="Klinik Sehat"
    )
    owner = create_user("owner@klinik.test", tenant=tenant, role=Role.OWNER, name="Ibu Owner")
    admin = create_user("admin@klinik.test", tenant=tenant, role=Role.ADMIN, locale="en")
    create_user("coord@klinik.test", tenant=tenant, role=Role.COORDINATOR)
    venue_id = make_venue(tenant, owner)
    upload_required(tenant.id, venue_id, owner)
    submit(tenant.id, venue_id, owner)
    return {"tenant": tenant, "owner": owner, "admin": admin, "venue_id": venue_id}


@pytest.fixture
def reviewer(create_user):
    return create_user("rina@kemkes.test", platform_role=PlatformRole.REVIEWER, name="Rina")


@pytest.fixture
def reviewer2(create_user):
    return create_user("budi@kemkes.test", platform_role=PlatformRole.REVIEWER, name="Budi")


def _url(clinic, action: str = "") -> str:
    base = f"/review/venues/{clinic['tenant'].id}/{clinic['venue_id']}"
    return f"{base}/{action}" if action else base


def _venue(clinic) -> Venue:
    with tenant_context(clinic["tenant"].id):
        venue = db.session.get(Venue, (clinic["tenant"].id, clinic["venue_id"]))
        db.session.expunge(venue)
        return venue


def _tenant_status(tenant_id) -> TenantStatus:
    """As the database has it now (the test's session may hold an older copy)."""
    return db.session.scalar(sa.select(Tenant.status).where(Tenant.id == tenant_id))


def _mails(app) -> list[email.message.EmailMessage]:
    outbox = Path(app.config["MAIL_URL"].removeprefix("file://"))
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(outbox.glob("*.eml"))
    ]


# --- who may enter --------------------------------------------------------------------


def test_only_reviewers_enter_the_console(client, login, clinic, create_user):
    assert client.get("/review/").status_code == 302  # to sign-in
    login(client, clinic["owner"])
    assert client.get("/review/").status_code == 403
    assert client.get(_url(clinic)).status_code == 403
    login(client, create_user(platform_role=PlatformRole.PLATFORM_ADMIN))
    assert client.get("/review/").status_code == 403


def test_reviewer_sees_venue_data_only(client, login, clinic, reviewer):
    login(client, reviewer)
    page = client.get(_url(clinic))
    assert page.status_code == 200
    assert "Klinik Sehat Kemang" in page.text and "Jl. Kemang Raya No. 10" in page.text
    # No people of the tenant: neither the owner's name nor any member's email.
    for secret in ("Ibu Owner", "owner@klinik.test", "admin@klinik.test", "coord@klinik.test"):
        assert secret not in page.text
    # The tenant's console stays closed to a reviewer.
    assert client.get("/o/klinik-sehat/venues/").status_code == 404
    assert client.get(f"/o/klinik-sehat/venues/{clinic['venue_id']}").status_code == 404
    assert client.get("/o/klinik-sehat/").status_code == 404


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])  # row-level security is PostgreSQL's
def test_database_grants_the_review_scope_venue_tables_only(app, clinic):
    tables = set(
        db.session.scalars(
            sa.text(
                "SELECT tablename FROM pg_policies "
                "WHERE qual LIKE '%review%' OR with_check LIKE '%review%'"
            )
        )
    )
    # Venue data, plus the organisation's contact phone (onboarding/team's migration):
    # no bookings, vouchers or registrants. A new grant to reviewers must be added here.
    assert tables == {"venue", "venue_document", "venue_review", "tenant_contact"}
    with cross_tenant(Scope.REVIEW):
        # rows of the tenant that exist, but are not venue data
        assert db.session.scalar(sa.text("SELECT count(*) FROM audit_log")) == 0
        assert db.session.scalar(sa.text("SELECT count(*) FROM outbox")) == 0
        assert db.session.scalar(sa.text("SELECT count(*) FROM venue")) == 1
    db.session.rollback()


def test_other_ids_answer_404(client, login, clinic, reviewer, create_tenant, create_user):
    other = create_tenant("lain")
    other_owner = create_user(tenant=other)
    other_venue = make_venue(other, other_owner)
    draft_doc = upload(
        other.id, other_venue, other_owner, DocumentKind.PHOTO_ENTRANCE, jpeg_bytes()
    )
    login(client, reviewer)
    tenant_id = clinic["tenant"].id
    for url in (
        # a draft and its documents were never sent to the ministry
        f"/review/venues/{other.id}/{other_venue}",
        f"/review/documents/{other.id}/{draft_doc}",
        f"/review/documents/{other.id}/{draft_doc}/thumbnail",
        f"/review/venues/{tenant_id}/{other_venue}",  # a real venue, under the wrong tenant
        f"/review/venues/{other.id}/{clinic['venue_id']}",
        f"/review/venues/{tenant_id}/nope",
        f"/review/documents/{other.id}/{clinic['venue_id']}",
        f"/review/documents/{tenant_id}/not-a-uuid/thumbnail",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/review/venues/{tenant_id}/{other_venue}/claim").status_code == 404


# --- the queue ------------------------------------------------------------------------


def test_queue_oldest_first_with_filters_and_waiting_time(
    app, client, login, clinic, reviewer, create_tenant, create_user
):
    company = create_tenant("pt-maju", kind=TenantKind.COMPANY, name="PT Maju")
    boss = create_user(tenant=company)
    bali = make_venue(company, boss, name="Kantor Denpasar", province="Bali")
    upload_required(company.id, bali, boss)
    submit(company.id, bali, boss)
    draft = make_venue(company, boss, name="Gudang Draf")
    assert draft
    # The clinic's venue has waited four days.
    with tenant_context(clinic["tenant"].id):
        db.session.get(Venue, (clinic["tenant"].id, clinic["venue_id"])).submitted_at = (
            utcnow() - dt.timedelta(days=4)
        )
        db.session.commit()
    login(client, reviewer)
    page = client.get("/review/?lang=en").text
    assert page.index("Klinik Sehat Kemang") < page.index("Kantor Denpasar")
    assert "Gudang Draf" not in page
    assert "4 days" in page
    assert "Kantor Denpasar" not in client.get("/review/?province=DKI+Jakarta").text
    by_kind = client.get("/review/?kind=company").text
    assert "Kantor Denpasar" in by_kind and "Klinik Sehat Kemang" not in by_kind
    waited = client.get("/review/?wait=3d").text
    assert "Klinik Sehat Kemang" in waited and "Kantor Denpasar" not in waited


# --- claims ---------------------------------------------------------------------------


def test_a_claimed_venue_cannot_be_decided_by_another_reviewer(
    app, client, login, clinic, reviewer, reviewer2
):
    login(client, reviewer)
    assert client.post(_url(clinic, "claim")).status_code == 302
    assert _venue(clinic).claimed_by_id == reviewer.id
    login(client, reviewer2)
    refused = client.post(_url(clinic, "claim"))
    assert refused.status_code == 409
    assert "Another reviewer is deciding this venue" in refused.text
    decide = client.post(_url(clinic, "decide"), data={"decision": "approved", **ALL_CHECKED})
    assert decide.status_code == 409
    assert _venue(clinic).status == VenueStatus.SUBMITTED
    assert _venue(clinic).claimed_by_id == reviewer.id
    # releasing someone else's claim does nothing
    client.post(_url(clinic, "release"))
    assert _venue(clinic).claimed_by_id == reviewer.id
    login(client, reviewer)
    assert client.post(_url(clinic, "release")).status_code == 302
    assert _venue(clinic).claimed_by_id is None


def test_an_expired_claim_can_be_taken_over_and_no_longer_decides(app, clinic, reviewer, reviewer2):
    long_ago = utcnow() - dt.timedelta(minutes=20)
    with app.test_request_context(), cross_tenant(Scope.REVIEW):
        venue = services.load_venue(clinic["tenant"].id, clinic["venue_id"])
        services.claim_venue(venue, reviewer, now=long_ago)
        db.session.commit()
        with pytest.raises(services.ReviewError) as excinfo:
            services.decide_venue(venue, reviewer, ReviewDecision.APPROVED, None, {})
        assert excinfo.value.code == "checklist_incomplete"
        # with the checklist complete, the lapsed claim is what refuses
        with pytest.raises(Conflict) as excinfo:
            services.decide_venue(
                venue,
                reviewer,
                ReviewDecision.APPROVED,
                None,
                dict.fromkeys(services.CHECKLIST, True),
            )
        assert excinfo.value.code == "claim_expired"
        db.session.rollback()
        services.claim_venue(venue, reviewer2)
        db.session.commit()
        assert venue.claimed_by_id == reviewer2.id


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite serialises writers anyway
def test_claim_statement_lets_exactly_one_of_two_concurrent_reviewers_win(
    app, clinic, reviewer, reviewer2, postgres
):
    engine = sa.create_engine(postgres["app_url"], poolclass=sa.pool.NullPool)
    now = utcnow()
    results: dict[str, object] = {}
    first = engine.connect()
    second = engine.connect()
    try:
        for conn in (first, second):
            conn.execute(sa.text("SELECT set_config('app.scope', 'review', true)"))
        tid, vid = clinic["tenant"].id, clinic["venue_id"]
        results["first"] = first.execute(
            services.claim_statement(tid, vid, reviewer.id, now)
        ).first()

        other_claim = services.claim_statement(tid, vid, reviewer2.id, now)

        def race():
            # Blocks on the first transaction's row lock, then re-checks the WHERE.
            try:
                results["second"] = second.execute(other_claim).first()
                second.commit()
            except Exception as exc:
                results["second"] = exc

        thread = threading.Thread(target=race)
        thread.start()
        thread.join(0.5)
        assert results["first"] is not None, results
        assert thread.is_alive(), ("the second claim must wait for the first", results)
        first.commit()
        thread.join(10)
    finally:
        first.close()
        second.close()
        engine.dispose()
    assert results["first"] is not None
    assert results["second"] is None
    assert _venue(clinic).claimed_by_id == reviewer.id


# --- decisions ------------------------------------------------------------------------


def test_approval_activates_the_tenant_emails_managers_and_signals(
    app, client, login, clinic, reviewer
):
    received = []

    def on_approved(sender, **kwargs):
        received.append((sender.id, kwargs["reviewer"].id))

    login(client, reviewer)
    client.post(_url(clinic, "claim"))
    incomplete = client.post(_url(clinic, "decide"), data={"decision": "approved"})
    assert incomplete.status_code == 400
    assert "Tick every item of the checklist" in incomplete.text
    with venue_approved.connected_to(on_approved):
        response = client.post(
            _url(clinic, "decide"), data={"decision": "approved", "comment": "", **ALL_CHECKED}
        )
    assert response.status_code == 302
    venue = _venue(clinic)
    assert venue.status == VenueStatus.APPROVED and venue.claimed_by_id is None
    assert received == [(clinic["venue_id"], reviewer.id)]
    assert _tenant_status(clinic["tenant"].id) == TenantStatus.ACTIVE
    with tenant_context(clinic["tenant"].id):
        (review,) = db.session.scalars(sa.select(VenueReview)).all()
        assert review.decision == ReviewDecision.APPROVED
        assert review.reviewer_id == reviewer.id
        assert all(review.checklist.values()) and len(review.document_ids) == 3
        actions = set(db.session.scalars(sa.select(AuditEntry.action)))
    assert {"onboarding.venue.approved", "onboarding.tenant.activated"} <= actions
    mails = _mails(app)
    assert sorted(m["To"] for m in mails) == ["admin@klinik.test", "owner@klinik.test"]
    by_to = {m["To"]: m for m in mails}
    assert "Klinik Sehat Kemang" in by_to["admin@klinik.test"]["Subject"]
    assert "approved" in by_to["admin@klinik.test"]["Subject"]  # the admin reads English
    body = by_to["owner@klinik.test"].get_body(("plain",)).get_content()
    assert f"/o/klinik-sehat/venues/{clinic['venue_id']}" in body
    # the tenant sees it
    login(client, clinic["owner"])
    page = client.get(f"/o/klinik-sehat/venues/{clinic['venue_id']}")
    assert "Approved" in page.text


def test_changes_requested_then_resubmitted_keeps_history_and_versions(
    app, client, login, clinic, reviewer, reviewer2
):
    login(client, reviewer)
    client.post(_url(clinic, "claim"))
    no_comment = client.post(_url(clinic, "decide"), data={"decision": "changes_requested"})
    assert no_comment.status_code == 400 and "Write a comment" in no_comment.text
    asked = client.post(
        _url(clinic, "decide"),
        data={"decision": "changes_requested", "comment": "Foto pintu masuk buram."},
    )
    assert asked.status_code == 302
    assert _venue(clinic).status == VenueStatus.CHANGES_REQUESTED
    # The tenant sees the comment, uploads a new photo and resubmits.
    login(client, clinic["owner"])
    detail = client.get(f"/o/klinik-sehat/venues/{clinic['venue_id']}").text
    assert "Foto pintu masuk buram." in detail
    tid, vid = clinic["tenant"].id, clinic["venue_id"]
    new_photo = upload(
        tid, vid, clinic["owner"], DocumentKind.PHOTO_ENTRANCE, jpeg_bytes(color="blue")
    )
    # Not yet resubmitted: the ministry does not see the work in progress.
    login(client, reviewer2)
    assert str(new_photo) not in client.get(_url(clinic)).text
    assert client.get(f"/review/documents/{tid}/{new_photo}").status_code == 404
    login(client, clinic["owner"])
    assert client.post(f"/o/klinik-sehat/venues/{vid}/submit").status_code == 302
    login(client, reviewer2)
    assert f"/review/documents/{tid}/{new_photo}/thumbnail" in client.get(_url(clinic)).text
    assert _venue(clinic).status == VenueStatus.SUBMITTED
    # The next reviewer sees the earlier decision and the earlier version.
    login(client, reviewer2)
    page = client.get(_url(clinic)).text
    assert "Foto pintu masuk buram." in page and "Rina" in page
    assert "Earlier versions" in page
    client.post(_url(clinic, "claim"))
    rejected = client.post(
        _url(clinic, "decide"), data={"decision": "rejected", "comment": "Izin palsu."}
    )
    assert rejected.status_code == 302
    assert _venue(clinic).status == VenueStatus.REJECTED
    # a rejected venue stays pending for the tenant
    assert _tenant_status(tid) == TenantStatus.PENDING
    subjects = [m["Subject"] for m in _mails(app)]
    assert len(subjects) == 4  # two decisions, owner and admin each


def test_suspended_tenant_is_not_reactivated_by_an_approval(app, clinic, reviewer):
    with app.test_request_context():
        tenant = db.session.get(Tenant, clinic["tenant"].id)
        tenant.status = TenantStatus.SUSPENDED
        db.session.commit()
        with cross_tenant(Scope.REVIEW):
            venue = services.load_venue(clinic["tenant"].id, clinic["venue_id"])
            services.claim_venue(venue, reviewer)
            services.decide_venue(
                venue,
                reviewer,
                ReviewDecision.APPROVED,
                None,
                dict.fromkeys(services.CHECKLIST, True),
            )
            db.session.commit()
    assert _tenant_status(clinic["tenant"].id) == TenantStatus.SUSPENDED


# --- documents ------------------------------------------------------------------------


def test_every_document_view_is_audited_and_pdfs_are_attachments(
    app, client, login, clinic, reviewer
):
    login(client, reviewer)
    page = client.get(_url(clinic)).text
    tid = clinic["tenant"].id
    with tenant_context(tid):
        current = {d.kind: d.id for d in db.session.scalars(sa.select(VenueDocument))}
    photo, permit = current[DocumentKind.PHOTO_ENTRANCE], current[DocumentKind.PERMIT_LETTER]
    assert f"/review/documents/{tid}/{photo}/thumbnail" in page
    thumb = client.get(f"/review/documents/{tid}/{photo}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    pdf = client.get(f"/review/documents/{tid}/{permit}")
    assert pdf.status_code == 302
    with client.get(pdf.headers["Location"]) as download:
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert download.mimetype == "application/pdf"
    assert client.get(f"/review/documents/{tid}/{permit}/thumbnail").status_code == 404
    with tenant_context(tid):
        views = db.session.execute(
            sa.select(AuditEntry.object_id, AuditEntry.actor_id, AuditEntry.data).where(
                AuditEntry.action == "onboarding.document.viewed"
            )
        ).all()
    assert sorted((v.object_id, v.data["variant"]) for v in views) == sorted(
        [(str(photo), "thumbnail"), (str(permit), "file")]
    )
    assert {v.actor_id for v in views} == {reviewer.id}


def test_daily_digest_tells_reviewers_about_the_queue(app, clinic, reviewer, reviewer2):
    with app.test_request_context(), cross_tenant(Scope.REVIEW):
        assert send_reviewer_digest() == 2
        db.session.commit()
    mails = _mails(app)
    assert sorted(m["To"] for m in mails) == ["budi@kemkes.test", "rina@kemkes.test"]
    assert "1" in mails[0]["Subject"]
    assert "DKI Jakarta" in mails[0].get_body(("plain",)).get_content()


def test_digest_is_scheduled_daily_in_the_review_scope():
    import onboarding.review.views  # registers it, as create_app's import does
    from core.jobs import PERIODIC

    assert onboarding.review.views.bp.name == "review"

    (job,) = [j for j in PERIODIC if j.path == "onboarding.review.jobs.send_reviewer_digest"]
    assert job.interval == 24 * 3600 and job.scope == Scope.REVIEW


def test_demo_data_puts_a_venue_in_the_review_queue(app, create_tenant, create_user):
    from onboarding.venues.cli import seed_venue_demo

    clinic = create_tenant("demo-clinic", province="DKI Jakarta")
    create_user(tenant=clinic, role=Role.OWNER)
    with app.test_request_context(), cross_tenant(Scope.PLATFORM):
        seed_venue_demo({"demo-clinic": clinic})
        seed_venue_demo({"demo-clinic": clinic})  # idempotent
        db.session.commit()
    with cross_tenant(Scope.REVIEW):
        (entry,) = services.review_queue()
    assert entry.venue.name == "Klinik Sehat Sentosa - Cipete"
    db.session.rollback()
