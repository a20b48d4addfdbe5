"""The getting-started checklist of the console home, computed from data every time.

verify email → add a venue → upload documents → submit for review → (after approval)
create a campaign. Each step knows whether it is done and, if not, what is missing.
Nothing is stored: the steps read the rows that prove them, so the list can never
disagree with the data. Each step is one function of :data:`STEPS`, so a package
that adds a piece of the journey changes one function.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import sqlalchemy as sa
from flask import current_app
from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BuildError

from core.extensions import db
from core.models import Membership
from core.models import Role
from core.models import Tenant
from core.models import User
from core.tenancy import tenant_context
from onboarding.venues.models import REQUIRED_KINDS
from onboarding.venues.models import DocumentKind
from onboarding.venues.models import Venue
from onboarding.venues.models import VenueDocument
from onboarding.venues.models import VenueStatus


@dataclasses.dataclass
class Step:
    """One line of the checklist."""

    key: str
    title: str
    done: bool
    #: what is missing, in words a person understands (empty when done)
    missing: list[str] = dataclasses.field(default_factory=list)
    #: where to go to do it (None when the page does not exist or the step is locked)
    url: str | None = None
    #: a later step that cannot start yet (e.g. campaigns before an approved venue)
    locked: bool = False


@dataclasses.dataclass
class Checklist:
    steps: list[Step]

    @property
    def complete(self) -> bool:
        return all(step.done for step in self.steps)

    @property
    def next_step(self) -> Step | None:
        return next((s for s in self.steps if not s.done and not s.locked), None)


@dataclasses.dataclass
class _Facts:
    """What the steps read, loaded once per checklist."""

    tenant: Tenant
    venues: list[Venue]


def _url(endpoint: str, **values) -> str | None:
    """A link to ``endpoint`` if that page exists (other packages land over time)."""
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _verify_email(facts: _Facts) -> Step:
    owners = db.session.scalars(
        sa.select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.tenant_id == facts.tenant.id, Membership.role == Role.OWNER)
        .order_by(User.email)
    ).all()
    unverified = [u.email for u in owners if u.email_verified_at is None]
    return Step(
        "verify_email",
        _("Verify your email address"),
        done=not unverified,
        missing=[
            _("%(email)s has not been verified yet: open the link we emailed.", email=email)
            for email in unverified
        ],
        url=_url("auth.check_email"),
    )


def _add_venue(facts: _Facts) -> Step:
    return Step(
        "add_venue",
        _("Add a venue"),
        done=bool(facts.venues),
        missing=[] if facts.venues else [_("No venue yet: add the place where you vaccinate.")],
        url=_url("venues.create"),
    )


#: how to name a missing document in the checklist
DOCUMENT_LABELS = {
    DocumentKind.PHOTO_ENTRANCE: _l("a photo of the entrance"),
    DocumentKind.PHOTO_VACCINATION_AREA: _l("a photo of the vaccination area"),
    DocumentKind.PERMIT_LETTER: _l("the permit or recommendation letter (PDF)"),
}


def _document_kinds_by_venue(venues: list[Venue]) -> dict:
    """{venue id: set of document kinds uploaded} (any version)."""
    kinds: dict = {v.id: set() for v in venues}
    if not venues:
        return kinds
    rows = db.session.execute(
        sa.select(VenueDocument.venue_id, VenueDocument.kind)
        .where(VenueDocument.venue_id.in_(list(kinds)))
        .distinct()
    ).all()
    for venue_id, kind in rows:
        kinds[venue_id].add(kind)
    return kinds


def _upload_documents(facts: _Facts) -> Step:
    title = _("Upload venue photos and the permit")
    if not facts.venues:
        return Step("upload_documents", title, done=False, missing=[_("Add a venue first.")])
    if any(v.status != VenueStatus.DRAFT for v in facts.venues):
        # Submission needs the documents, so a venue past draft proves this step.
        return Step("upload_documents", title, done=True)
    kinds = _document_kinds_by_venue(facts.venues)
    missing = []
    for venue in facts.venues:
        lacking = [
            str(DOCUMENT_LABELS.get(kind, kind.value))
            for kind in REQUIRED_KINDS
            if kind not in kinds[venue.id]
        ]
        if lacking:
            missing.append(
                _("%(venue)s needs %(documents)s.", venue=venue.name, documents=", ".join(lacking))
            )
    return Step(
        "upload_documents",
        title,
        done=not missing,
        missing=missing,
        url=_url("venues.detail", venue_id=facts.venues[0].id),
    )


def _submit_for_review(facts: _Facts) -> Step:
    title = _("Submit a venue for review")
    if not facts.venues:
        return Step("submit", title, done=False, missing=[_("Add a venue first.")])
    submitted = [
        v for v in facts.venues if v.status in (VenueStatus.SUBMITTED, VenueStatus.APPROVED)
    ]
    if submitted:
        return Step("submit", title, done=True)
    missing = []
    for venue in facts.venues:
        if venue.status == VenueStatus.CHANGES_REQUESTED:
            missing.append(
                _(
                    "The reviewer asked for changes to %(venue)s: make them and resubmit.",
                    venue=venue.name,
                )
            )
        elif venue.status == VenueStatus.REJECTED:
            missing.append(_("%(venue)s was rejected.", venue=venue.name))
        else:
            missing.append(
                _("%(venue)s is a draft: submit it when its documents are in.", venue=venue.name)
            )
    return Step(
        "submit",
        title,
        done=False,
        missing=missing,
        url=_url("venues.detail", venue_id=facts.venues[0].id),
    )


def _create_campaign(facts: _Facts) -> Step:
    title = _("Create a campaign")
    approved = any(v.status == VenueStatus.APPROVED for v in facts.venues)
    if not approved:
        return Step(
            "create_campaign",
            title,
            done=False,
            locked=True,
            missing=[_("Waiting for the ministry to approve a venue.")],
        )
    # Campaigns live in ``tenants/``, which onboarding may not import: count the table
    # through the metadata once it exists (the tenant scope and RLS still apply).
    table = db.metadata.tables.get("campaign")
    count = 0
    if table is not None:
        count = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.tenant_id == facts.tenant.id)
        )
    return Step(
        "create_campaign",
        title,
        done=count > 0,
        missing=[] if count else [_("No campaign yet: create one to open bookings.")],
        url=_url("campaigns.new") or _url("campaigns.index"),
    )


#: the steps, in order
STEPS: list[Callable[[_Facts], Step]] = [
    _verify_email,
    _add_venue,
    _upload_documents,
    _submit_for_review,
    _create_campaign,
]


def tenant_checklist(tenant: Tenant) -> Checklist:
    """The checklist of ``tenant``, computed now from its data."""
    with tenant_context(tenant):
        venues = db.session.scalars(sa.select(Venue).order_by(Venue.created_at)).all()
        facts = _Facts(tenant=tenant, venues=list(venues))
        return Checklist([step(facts) for step in STEPS])
