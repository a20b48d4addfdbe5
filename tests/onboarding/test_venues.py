"""Venues and their permit documents, from the tenant console."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from PIL import Image

from core.db import utcnow
from core.errors import Conflict
from core.extensions import db
from core.ids import uuid7
from core.models import AuditEntry
from core.models import Role
from core.models import TenantStatus
from core.tenancy import tenant_context
from onboarding.venues import services
from onboarding.venues.models import DocumentKind
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueDocument
from onboarding.venues.models import VenueStatus
from onboarding.venues.uploads import MB
from onboarding.venues.uploads import UploadRejected
from onboarding.venues.uploads import check_upload
from tests.onboarding.venue_support import HTML_WITH_SCRIPT
from tests.onboarding.venue_support import SVG_WITH_SCRIPT
from tests.onboarding.venue_support import VENUE_FORM
from tests.onboarding.venue_support import jpeg_bytes
from tests.onboarding.venue_support import jpeg_with_gps
from tests.onboarding.venue_support import make_venue
from tests.onboarding.venue_support import pdf_bytes
from tests.onboarding.venue_support import png_bomb
from tests.onboarding.venue_support import png_bytes
from tests.onboarding.venue_support import post_file
from tests.onboarding.venue_support import stored_files
from tests.onboarding.venue_support import submit
from tests.onboarding.venue_support import upload
from tests.onboarding.venue_support import upload_required


@pytest.fixture
def clinic(create_tenant, create_user):
    tenant = create_tenant("klinik-sehat", status=TenantStatus.PENDING)
    owner = create_user(tenant=tenant, role=Role.OWNER)
    return tenant, owner


@pytest.fixture
def signed_in(client, login, clinic):
    login(client, clinic[1])
    return client


def _documents(tenant_id) -> list[VenueDocument]:
    """The tenant's documents as detached snapshots (safe to read after later commits)."""
    with tenant_context(tenant_id):
        documents = list(db.session.scalars(sa.select(VenueDocument)))
        for document in documents:
            db.session.expunge(document)
        return documents


def _venue(tenant_id, venue_id) -> Venue:
    with tenant_context(tenant_id):
        venue = db.session.get(Venue, (tenant_id, venue_id))
        db.session.expunge(venue)
        return venue


# --- the form -------------------------------------------------------------------------


def test_create_venue_with_hours_and_coordinates_without_javascript(signed_in, clinic, app):
    tenant, _ = clinic
    response = signed_in.post("/o/klinik-sehat/venues/new", data=VENUE_FORM)
    assert response.status_code == 302
    venue_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    with tenant_context(tenant.id):
        venue = db.session.scalar(sa.select(Venue))
        assert str(venue.id) == venue_id
        assert venue.status == VenueStatus.DRAFT
        assert venue.opening_hours == {"0": [["08:00", "16:00"]], "5": [["09:00", "12:00"]]}
        assert str(venue.latitude) == "-6.261500" and venue.stations == 3
        actions = db.session.scalars(sa.select(AuditEntry.action)).all()
    assert "onboarding.venue.created" in actions
    page = signed_in.get(f"/o/klinik-sehat/venues/{venue_id}")
    assert page.status_code == 200
    assert "Klinik Sehat Kemang" in page.text and "08:00" in page.text
    assert "Venue added" in page.text  # the activity history


BAD_FORMS = [
    ({"latitude": "48.85", "longitude": "2.35"}, "latitude", "Indonesia"),
    ({"latitude": "-6.2", "longitude": ""}, "latitude", "both latitude and longitude"),
    ({"hours-2-open": "17:00", "hours-2-close": "09:00"}, "hours-2", "after the opening"),
    ({"hours-3-open": "08:00"}, "hours-3", "both the opening and the closing"),
    ({"province": "Atlantis"}, "province", "province from the list"),
    ({"stations": "0"}, "stations", "from 1 to 100"),
]


def test_bad_venue_form_is_explained_and_nothing_saved(signed_in, clinic):
    # One app for all cases: a database per case would cost more than the cases.
    for changes, field, message in BAD_FORMS:
        response = signed_in.post("/o/klinik-sehat/venues/new", data={**VENUE_FORM, **changes})
        assert response.status_code == 400, changes
        assert message in response.text, changes
        assert f'id="{field}-error"' in response.text, changes
    with tenant_context(clinic[0].id):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Venue)) == 0


def test_coordinator_sees_but_cannot_edit(client, login, clinic, create_user):
    tenant, owner = clinic
    venue_id = make_venue(tenant, owner)
    coordinator = create_user(tenant=tenant, role=Role.COORDINATOR)
    checkin = create_user(tenant=tenant, role=Role.CHECKIN)
    login(client, coordinator)
    assert client.get(f"/o/klinik-sehat/venues/{venue_id}").status_code == 200
    assert "Upload a document" not in client.get(f"/o/klinik-sehat/venues/{venue_id}").text
    assert client.get("/o/klinik-sehat/venues/new").status_code == 403
    assert client.post(f"/o/klinik-sehat/venues/{venue_id}/submit").status_code == 403
    login(client, checkin)
    assert client.get("/o/klinik-sehat/venues/").status_code == 403


def test_another_tenants_venue_and_document_answer_404(
    client, login, clinic, create_tenant, create_user
):
    tenant, owner = clinic
    other = create_tenant("klinik-lain")
    other_owner = create_user(tenant=other, role=Role.OWNER)
    mine = make_venue(tenant, owner)
    theirs = make_venue(other, other_owner)
    their_doc = upload(other.id, theirs, other_owner, DocumentKind.PHOTO_ENTRANCE, jpeg_bytes())
    login(client, owner)
    for url in (
        f"/o/klinik-sehat/venues/{theirs}",
        f"/o/klinik-sehat/venues/{theirs}/edit",
        f"/o/klinik-sehat/venues/{mine}/documents/{their_doc}",
        f"/o/klinik-sehat/venues/{theirs}/documents/{their_doc}/thumbnail",
        f"/o/klinik-lain/venues/{theirs}",
        "/o/klinik-sehat/venues/not-a-uuid",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/o/klinik-sehat/venues/{theirs}/submit").status_code == 404
    assert (
        client.post(f"/o/klinik-sehat/venues/{mine}/documents/{their_doc}/delete").status_code
        == 404
    )
    assert len(_documents(other.id)) == 1


# --- uploads --------------------------------------------------------------------------

CORPUS = [
    # (file name, bytes, kind, what the person must be told)
    ("permit.pdf", b"Surat izin, sebenarnya teks biasa.\n" * 20, "permit_letter", "not a PDF"),
    ("door.jpg", SVG_WITH_SCRIPT, "photo_entrance", "SVG"),
    ("door.jpg", HTML_WITH_SCRIPT, "photo_entrance", "web page"),
    ("bomb.png", png_bomb(), "photo_entrance", "million pixels"),
    ("big.jpg", b"\xff\xd8\xff\xe0" + b"\0" * (11 * MB), "photo_entrance", "larger than 10 MB"),
    ("big.pdf", b"%PDF-1.4\n" + b"\0" * (16 * MB), "permit_letter", "larger than 15 MB"),
    ("empty.jpg", b"", "photo_entrance", "empty"),
    ("cut.jpg", jpeg_bytes((400, 300))[:600], "photo_entrance", "damaged or incomplete"),
    ("cut.pdf", pdf_bytes()[:-8], "permit_letter", "incomplete or damaged"),
    ("photo.jpg", jpeg_bytes(), "permit_letter", "must be a PDF"),
    ("izin.pdf", pdf_bytes(), "photo_vaccination_area", "a photo (JPEG, PNG or WebP) is needed"),
]


def test_upload_corpus_is_rejected_with_a_clear_message_and_nothing_stored(signed_in, clinic, app):
    # One app for the whole corpus: a database per file would cost more than the files.
    tenant, owner = clinic
    venue_id = make_venue(tenant, owner)
    for name, data, kind, message in CORPUS:
        case = f"{name}: expected {message!r}"
        response = post_file(
            signed_in, f"/o/klinik-sehat/venues/{venue_id}/documents", kind, data, name
        )
        assert response.status_code == 400, case
        assert message in response.text, case
        assert 'role="alert"' in response.text, case
        assert _documents(tenant.id) == [], case
        assert stored_files(app, everything=True) == [], case
    with tenant_context(tenant.id):
        actions = db.session.scalars(sa.select(AuditEntry.action)).all()
    assert "onboarding.document.uploaded" not in actions


def test_messages_are_translated(signed_in, clinic):
    tenant, owner = clinic
    venue_id = make_venue(tenant, owner)
    response = signed_in.post(
        f"/o/klinik-sehat/venues/{venue_id}/documents?lang=id",
        data={"kind": "photo_entrance", "file": (io.BytesIO(b""), "x.jpg")},
        content_type="multipart/form-data",
    )
    english = signed_in.post(
        f"/o/klinik-sehat/venues/{venue_id}/documents?lang=en",
        data={"kind": "photo_entrance", "file": (io.BytesIO(b""), "x.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == english.status_code == 400
    assert "The file is empty" in english.text


def test_jpeg_with_gps_is_stored_rotated_and_without_exif(signed_in, clinic, app):
    tenant, owner = clinic
    venue_id = make_venue(tenant, owner)
    original = jpeg_with_gps()
    assert b"SpyCam" in original and Image.open(io.BytesIO(original)).getexif()
    response = signed_in.post(
        f"/o/klinik-sehat/venues/{venue_id}/documents",
        data={"kind": "photo_entrance", "file": (io.BytesIO(original), "../../etc/door.jpg")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    (document,) = _documents(tenant.id)
    assert document.content_type == "image/jpeg"
    assert document.original_filename == "door.jpg"
    assert document.storage_key.startswith(f"tenants/{tenant.id}/venues/{venue_id}/documents/")
    assert "door" not in document.storage_key
    files = {p.as_posix(): p.read_bytes() for p in stored_files(app)}
    (stored,) = [data for path, data in files.items() if path.endswith(document.storage_key)]
    assert b"SpyCam" not in stored and b"Exif" not in stored
    image = Image.open(io.BytesIO(stored))
    assert dict(image.getexif()) == {}
    assert image.size == (40, 80)  # orientation 6 applied, then forgotten
    # the thumbnail job ran (in-process, after the commit)
    assert document.thumbnail_key and len(files) == 2
    thumb = signed_in.get(f"/o/klinik-sehat/venues/{venue_id}/documents/{document.id}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert thumb.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(thumb.data)).format == "JPEG"


def test_check_upload_keeps_png_transparency_and_accepts_webp():
    clean = check_upload(png_bytes(), "image")
    assert clean.content_type == "image/png"
    assert Image.open(io.BytesIO(clean.data)).mode == "RGBA"
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "blue").save(out, "WEBP")
    webp = check_upload(out.getvalue(), "image")
    assert webp.content_type == "image/jpeg"
    pdf = check_upload(pdf_bytes(), "pdf")
    assert pdf.data == pdf_bytes() and pdf.content_type == "application/pdf"


def test_bomb_just_over_the_limit_is_refused_before_decoding(app):
    with app.test_request_context(), pytest.raises(UploadRejected) as excinfo:
        check_upload(png_bomb(8000, 5001), "image")  # 40.008 MP: above 40 MP, below Pillow's
    assert excinfo.value.code == "upload_too_many_pixels"


def test_pdf_download_is_a_short_lived_attachment(signed_in, clinic):
    tenant, owner = clinic
    venue_id = make_venue(tenant, owner)
    doc_id = upload(tenant.id, venue_id, owner, DocumentKind.PERMIT_LETTER, pdf_bytes(), "izin.pdf")
    response = signed_in.get(f"/o/klinik-sehat/venues/{venue_id}/documents/{doc_id}")
    assert response.status_code == 302
    link = response.headers["Location"]
    assert re.search(r"/files/[^/]+$", link)
    with signed_in.get(link) as download:  # a file response: closed when done
        assert download.status_code == 200
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert download.data == pdf_bytes()
    with tenant_context(tenant.id):
        viewed = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "onboarding.document.viewed")
        ).all()
    assert [v.object_id for v in viewed] == [str(doc_id)]


# --- the state machine ----------------------------------------------------------------


def test_submit_says_which_documents_are_missing(signed_in, clinic):
    tenant, owner = clinic
    venue_id = make_venue(tenant, owner)
    upload(tenant.id, venue_id, owner, DocumentKind.PHOTO_ENTRANCE, jpeg_bytes())
    response = signed_in.post(f"/o/klinik-sehat/venues/{venue_id}/submit")
    assert response.status_code == 400
    assert "Photo of the vaccination area" in response.text
    assert "Permit or recommendation letter" in response.text
    assert _venue(tenant.id, venue_id).status == VenueStatus.DRAFT


def test_submission_freezes_documents_and_new_versions_keep_the_old(signed_in, clinic, app):
    tenant, owner = clinic
    venue_id = make_venue(tenant, owner)
    upload_required(tenant.id, venue_id, owner)
    assert signed_in.post(f"/o/klinik-sehat/venues/{venue_id}/submit").status_code == 302
    venue = _venue(tenant.id, venue_id)
    assert venue.status == VenueStatus.SUBMITTED and venue.submitted_at is not None
    assert all(d.submitted for d in _documents(tenant.id))
    # Under review: no change of documents or details, no second submission.
    with app.test_request_context(), pytest.raises(Conflict) as excinfo:
        upload(tenant.id, venue_id, owner, DocumentKind.PHOTO_ENTRANCE, jpeg_bytes())
    assert excinfo.value.code == "venue_under_review"
    db.session.rollback()
    blocked = signed_in.post(f"/o/klinik-sehat/venues/{venue_id}/edit", data=VENUE_FORM)
    assert blocked.status_code == 409
    assert "waiting for the ministry" in blocked.text
    assert signed_in.get(f"/o/klinik-sehat/venues/{venue_id}/edit").status_code == 302
    # A submitted document can never be deleted.
    permit = next(d for d in _documents(tenant.id) if d.kind == DocumentKind.PERMIT_LETTER)
    with tenant_context(tenant.id):
        venue = db.session.get(Venue, (tenant.id, venue_id))
        venue.status = VenueStatus.CHANGES_REQUESTED  # as a reviewer's decision would
        db.session.commit()
    gone = signed_in.post(f"/o/klinik-sehat/venues/{venue_id}/documents/{permit.id}/delete")
    assert gone.status_code == 409
    # A new version is added; the submitted one is kept.
    upload(tenant.id, venue_id, owner, DocumentKind.PERMIT_LETTER, pdf_bytes(), "izin-v2.pdf")
    permits = sorted(
        (d for d in _documents(tenant.id) if d.kind == DocumentKind.PERMIT_LETTER),
        key=lambda d: d.version,
    )
    assert [(d.version, d.submitted) for d in permits] == [(1, True), (2, False)]
    with tenant_context(tenant.id):
        current = services.current_documents(db.session.get(Venue, (tenant.id, venue_id)))
        assert current[DocumentKind.PERMIT_LETTER].id == permits[1].id
    # an unsubmitted version can be removed, and its file goes with it after the commit
    files_before = len(stored_files(app))
    removed = signed_in.post(f"/o/klinik-sehat/venues/{venue_id}/documents/{permits[1].id}/delete")
    assert removed.status_code == 302
    assert len(stored_files(app)) == files_before - 1
    submit(tenant.id, venue_id, owner)
    assert _venue(tenant.id, venue_id).status == VenueStatus.SUBMITTED
    with tenant_context(tenant.id):
        actions = db.session.scalars(sa.select(AuditEntry.action)).all()
    assert {"onboarding.venue.submitted", "onboarding.venue.resubmitted"} <= set(actions)
    history = signed_in.get(f"/o/klinik-sehat/venues/{venue_id}").text.split("<h2>Activity")[1]
    for line in ("Submitted for review", "Document removed", "Document uploaded"):
        assert line in history


def test_approved_venue_goes_back_to_review_when_documents_or_location_change(app, clinic):
    tenant, owner = clinic
    venue_id = make_venue(tenant, owner)
    upload_required(tenant.id, venue_id, owner)
    submit(tenant.id, venue_id, owner)
    with tenant_context(tenant.id):
        db.session.get(Venue, (tenant.id, venue_id)).status = VenueStatus.APPROVED
        db.session.commit()
    # Opening hours are the tenant's business: still approved.
    with tenant_context(tenant.id):
        venue = db.session.get(Venue, (tenant.id, venue_id))
        services.update_venue(venue, {"opening_hours": {"1": [["07:00", "11:00"]]}}, owner)
        assert venue.status == VenueStatus.APPROVED
        services.update_venue(venue, {"address": "Jl. Lain No. 2"}, owner)
        assert venue.status == VenueStatus.SUBMITTED
        venue.status = VenueStatus.APPROVED
        db.session.commit()
    new_doc = upload(tenant.id, venue_id, owner, DocumentKind.PHOTO_ENTRANCE, jpeg_bytes())
    assert _venue(tenant.id, venue_id).status == VenueStatus.SUBMITTED
    assert next(d for d in _documents(tenant.id) if d.id == new_doc).submitted


def test_rejected_venue_is_final(app, clinic):
    tenant, owner = clinic
    venue_id = make_venue(tenant, owner)
    with app.test_request_context(), tenant_context(tenant.id):
        venue = db.session.get(Venue, (tenant.id, venue_id))
        venue.status = VenueStatus.REJECTED
        db.session.flush()
        with pytest.raises(Conflict):
            services.submit_venue(venue, owner)
        with pytest.raises(Conflict):
            services.update_venue(venue, {"name": "Baru"}, owner)


def test_two_uploads_racing_for_one_version_end_in_a_conflict_not_an_error(app, clinic, app_config):
    """Another upload commits the same version between our read and our write."""
    tenant, owner = clinic
    venue_id = make_venue(tenant, owner)
    other = sa.create_engine(app_config["SQLALCHEMY_DATABASE_URI"], poolclass=sa.pool.NullPool)

    def sneak_in(session, flush_context, instances):
        with other.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"SELECT set_config('app.tenant_id', '{tenant.id}', true)"))
            conn.execute(
                VenueDocument.__table__.insert().values(
                    tenant_id=tenant.id,
                    id=uuid7(),
                    venue_id=venue_id,
                    kind="permit_letter",
                    version=1,
                    storage_key=f"tenants/{tenant.id}/other.pdf",
                    content_type="application/pdf",
                    size=1,
                    sha256="0" * 64,
                    original_filename="other.pdf",
                    uploaded_at=utcnow(),
                    submitted=False,
                )
            )

    session = db.session()
    sa.event.listen(session, "before_flush", sneak_in, once=True)
    try:
        with app.test_request_context(), pytest.raises(Conflict) as excinfo:
            upload(tenant.id, venue_id, owner, DocumentKind.PERMIT_LETTER, pdf_bytes())
    finally:
        other.dispose()
        db.session.rollback()
    assert excinfo.value.code == "document_version_taken"
    assert stored_files(app, everything=True) == []
    assert [d.storage_key for d in _documents(tenant.id)] == [f"tenants/{tenant.id}/other.pdf"]
