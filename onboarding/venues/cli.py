"""Demo data of the venues: a venue waiting in the ministry's review queue.

Imported through ``core.app.MODEL_MODULES``; appends to ``core.cli.DEMO_EXTENSIONS``
so ``flask sentra seed-demo`` gives the reviewer demo account something to decide.
"""

from __future__ import annotations

import io

import sqlalchemy as sa
from PIL import Image
from PIL import ImageDraw

from core.cli import DEMO_EXTENSIONS
from core.extensions import db
from core.models import Membership
from core.models import Role
from core.models import Tenant
from core.models import User
from core.tenancy import tenant_context
from onboarding.venues import services
from onboarding.venues.models import DocumentKind
from onboarding.venues.models import Venue
from onboarding.venues.uploads import check_upload

DEMO_VENUE = "Klinik Sehat Sentosa - Cipete"


def _picture(label: str, color: str) -> bytes:
    image = Image.new("RGB", (800, 600), color)
    ImageDraw.Draw(image).text((40, 40), label, fill="white")
    out = io.BytesIO()
    image.save(out, "JPEG")
    return out.getvalue()


def _permit_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def seed_venue_demo(tenants: dict[str, Tenant]) -> None:
    """demo-clinic: a second venue, documented and submitted, waiting for review."""
    clinic = tenants.get("demo-clinic")
    if clinic is None:
        return
    owner = db.session.scalar(
        sa.select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == clinic.id, Membership.role == Role.OWNER)
    )
    with tenant_context(clinic):
        if db.session.scalar(sa.select(Venue.id).where(Venue.name == DEMO_VENUE)):
            return
        venue = services.create_venue(
            {
                "name": DEMO_VENUE,
                "address": "Jl. Cipete Raya No. 21",
                "province": "DKI Jakarta",
                "city": "Jakarta Selatan",
                "district": "Cilandak",
                "stations": 2,
                "opening_hours": {str(d): [["08:00", "15:00"]] for d in range(5)},
                "visitor_notes": "Parkir di belakang gedung.",
            },
            owner,
        )
        for kind, data, name in (
            (DocumentKind.PHOTO_ENTRANCE, _picture("Pintu masuk", "#0b6e4f"), "pintu.jpg"),
            (DocumentKind.PHOTO_VACCINATION_AREA, _picture("Ruang vaksin", "#1b4f8a"), "ruang.jpg"),
            (DocumentKind.PERMIT_LETTER, _permit_pdf(), "surat-izin.pdf"),
        ):
            accept = "pdf" if kind == DocumentKind.PERMIT_LETTER else "image"
            services.upload_document(venue, kind, check_upload(data, accept), name, owner)
        services.submit_venue(venue, owner)


DEMO_EXTENSIONS.append(seed_venue_demo)
