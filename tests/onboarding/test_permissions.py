"""The permission matrix: every route of the app, by who asks → the expected answer.

``ROUTES`` has one entry per endpoint in ``app.url_map``; a route without an entry
(or an entry for a route that no longer exists) fails :func:`test_every_route_has_an_entry`.
When you add a route, add its line here: say who may use it with the helpers
(:func:`member`, :func:`platform`, :func:`everyone`, :func:`signed_in`) and, if its
URL has parameters, how to fill them from the :class:`World` (real objects of the
tenant under test, made fresh for each request so one persona's POST cannot change
what the next one sees). ``foreign`` fills the same URL with *another* tenant's
objects: the answer must be 404.

Outcomes are classes of answers, not exact codes, because a permitted POST with an
empty form may answer 200, 302, 400, 409 or 422 depending on the route; what the
matrix checks is the door: ``LOGIN`` (redirect to sign-in), ``FORBIDDEN`` (403),
``HIDDEN`` (404), ``UNAUTHORIZED`` (401, the API without a key) or ``OK`` (the
request got past the door: any other answer below 500). An integer expects that
exact status. A 5xx is always a failure.

Runs on SQLite and PostgreSQL (RLS on) like every app test, with one difference
measured to matter (about 800 requests: ~30 s on SQLite, ~50 s on PostgreSQL on
the 2-core box): on PostgreSQL only the personas who get *past* the door are
asked. Refusals (sign-in redirect, 403, 404 for non-members) are decided by
``core.access`` in Python before any tenant data is read, identically on both
databases; what PostgreSQL adds is row-level security, which only acts once a
request reads or writes tenant data, i.e. for the permitted personas, and in
:func:`test_another_tenants_objects_answer_404`, which runs in full on both.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from urllib.parse import urlparse

import sqlalchemy as sa

from core.db import utcnow
from core.extensions import db
from core.ids import uuid7
from core.models import Membership
from core.models import PlatformRole
from core.models import Role
from core.models import Tenant
from core.models import TenantStatus
from core.models import User
from core.tenancy import tenant_context
from onboarding.team import services as team_services
from onboarding.team.models import Invitation
from onboarding.venues import services as venue_services
from onboarding.venues.models import DocumentKind
from onboarding.venues.models import VenueDocument
from tests.onboarding.venue_support import VENUE_DATA
from tests.onboarding.venue_support import jpeg_bytes
from tests.onboarding.venue_support import make_venue
from tests.onboarding.venue_support import submit
from tests.onboarding.venue_support import upload
from tests.onboarding.venue_support import upload_required
from tests.tenants.onsite import support as onsite_support
from tests.tenants.public import support as public_support
from tests.tenants.reporting import support as reporting_support
from tests.tenants.roster import support as roster_support
from tests.tenants.vouchers import support as voucher_support

ANON, OWNER, ADMIN, COORD, CHECKIN = "anonymous", "owner", "admin", "coordinator", "checkin"
STRANGER, REVIEWER, PLATFORM_ADMIN = "stranger", "reviewer", "platform_admin"
PERSONAS = (ANON, OWNER, ADMIN, COORD, CHECKIN, STRANGER, REVIEWER, PLATFORM_ADMIN)
TENANT_ROLES = {
    OWNER: Role.OWNER,
    ADMIN: Role.ADMIN,
    COORD: Role.COORDINATOR,
    CHECKIN: Role.CHECKIN,
}

OK, LOGIN, FORBIDDEN, HIDDEN, UNAUTHORIZED = "ok", "login", "forbidden", "hidden", "unauthorized"
RANK = {Role.CHECKIN: 1, Role.COORDINATOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


# --- expectations -------------------------------------------------------------------


def everyone(outcome: str | int = OK) -> dict:
    """A public route: the same answer whoever asks."""
    return dict.fromkeys(PERSONAS, outcome)


def signed_in(outcome: str | int = OK, anonymous: str | int = LOGIN) -> dict:
    """Any signed-in person; a visitor is sent to sign in."""
    return {**dict.fromkeys(PERSONAS, outcome), ANON: anonymous}


def member(minimum: Role) -> dict:
    """A tenant console route for ``minimum`` and above; 403 below; 404 to non-members."""
    expect = {ANON: LOGIN, STRANGER: HIDDEN, REVIEWER: HIDDEN, PLATFORM_ADMIN: HIDDEN}
    for persona, role in TENANT_ROLES.items():
        expect[persona] = OK if RANK[role] >= RANK[minimum] else FORBIDDEN
    return expect


def platform(*roles: PlatformRole) -> dict:
    """A platform route (review console, admin) for the given platform roles."""
    expect = {**dict.fromkeys(PERSONAS, FORBIDDEN), ANON: LOGIN}
    for role in roles:
        expect[
            {PlatformRole.REVIEWER: REVIEWER, PlatformRole.PLATFORM_ADMIN: PLATFORM_ADMIN}[role]
        ] = OK
    return expect


# --- the world the requests run in ----------------------------------------------------


@dataclasses.dataclass
class World:
    """Tenant ``alpha`` (under test) and ``beta`` (another tenant), their people and objects."""

    app: object
    alpha: Tenant
    beta: Tenant
    users: dict[str, User]
    venues: dict[str, object]  # slug → id of a submitted venue with its documents
    documents: dict[str, object]  # slug → id of one image document of that venue

    def _tenant(self, slug: str) -> Tenant:
        return {"alpha": self.alpha, "beta": self.beta}[slug]

    def fresh_member(self, slug: str = "alpha", role: Role = Role.CHECKIN) -> User:
        n = uuid7().hex[-10:]
        user = User(email=f"m{n}@example.test", name=f"Member {n}", password_hash="!")
        db.session.add(user)
        db.session.add(Membership(tenant=self._tenant(slug), user=user, role=role))
        db.session.commit()
        return user

    def fresh_invitation(self, slug: str = "alpha") -> tuple[object, str]:
        tenant = self._tenant(slug)
        with self.app.test_request_context(), tenant_context(tenant):
            invitation = Invitation(
                tenant_id=tenant.id,
                id=uuid7(),
                email=f"i{uuid7().hex[-10:]}@example.test",
                role=Role.CHECKIN,
                expires_at=utcnow() + dt.timedelta(days=1),
            )
            token = team_services._new_token(invitation)
            db.session.add(invitation)
            db.session.commit()
            return invitation.id, token

    def fresh_document(self, slug: str = "alpha") -> object:
        tenant = self._tenant(slug)
        # A draft venue: the submitted one's documents are frozen (and cannot be deleted).
        with tenant_context(tenant):
            venue_id = _draft_venue(tenant, self.users[_owner_of(slug)])
        return venue_id, upload(
            tenant.id,
            venue_id,
            self.users[_owner_of(slug)],
            DocumentKind.OTHER,
            jpeg_bytes(),
            "x.jpg",
        )

    def fresh_reviewer(self) -> User:
        user = User(
            email=f"r{uuid7().hex[-10:]}@example.test",
            name="Reviewer",
            password_hash="!",
            platform_role=PlatformRole.REVIEWER,
        )
        db.session.add(user)
        db.session.commit()
        return user

    def fresh_api_key(self, slug: str = "alpha") -> object:
        from core.api.services import create_api_key

        with self.app.test_request_context(), tenant_context(self._tenant(slug)):
            issued = create_api_key("matrix", ["read"], self.users[_owner_of(slug)])
            key_id = issued.key.id
            db.session.commit()
        return key_id

    def file_token(self) -> str:
        from core.storage import get_storage

        with tenant_context(self.alpha):
            document = db.session.get(VenueDocument, (self.alpha.id, self.documents["alpha"]))
            key = document.storage_key
        url = get_storage().url(key)
        return url.rsplit("/", 1)[1]


def _owner_of(slug: str) -> str:
    return OWNER if slug == "alpha" else STRANGER


def _draft_venue(tenant, actor):
    venue = venue_services.create_venue(dict(VENUE_DATA), actor)
    db.session.commit()
    return venue.id


def build_world(app, create_tenant, create_user) -> World:

    alpha = create_tenant("alpha", status=TenantStatus.ACTIVE)
    beta = create_tenant("beta", status=TenantStatus.ACTIVE)
    users = {
        persona: create_user(f"{persona}@alpha.test", tenant=alpha, role=role)
        for persona, role in TENANT_ROLES.items()
    }
    users[STRANGER] = create_user("owner@beta.test", tenant=beta, role=Role.OWNER)
    users[REVIEWER] = create_user("reviewer@kemkes.test", platform_role=PlatformRole.REVIEWER)
    users[PLATFORM_ADMIN] = create_user(
        "ops@sentra.test", platform_role=PlatformRole.PLATFORM_ADMIN
    )
    venues, documents = {}, {}
    with app.test_request_context():
        for tenant, owner in ((alpha, users[OWNER]), (beta, users[STRANGER])):
            venue_id = make_venue(tenant, owner)
            upload_required(tenant.id, venue_id, owner)
            documents[tenant.slug] = upload(
                tenant.id, venue_id, owner, DocumentKind.OTHER, jpeg_bytes(), "extra.jpg"
            )
            submit(tenant.id, venue_id, owner)
            venues[tenant.slug] = venue_id
    return World(app, alpha, beta, users, venues, documents)


# --- the table ---------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    """What one endpoint answers to each persona, and how to fill its URL."""

    expect: dict
    params: Callable[[World], dict] = lambda w: {}
    #: per HTTP method, replaces ``expect`` (e.g. a public GET with a POST that needs sign-in)
    by_method: dict[str, dict] = dataclasses.field(default_factory=dict)
    #: the same URL filled with the other tenant's objects (asked by alpha's owner,
    #: or for review routes by the reviewer): must answer 404
    foreign: Callable[[World], dict] | None = None
    foreign_persona: str = OWNER


def _member_target(w: World, slug: str = "alpha") -> dict:
    return {"user_id": w.fresh_member(slug).id}


def _invitation_target(w: World, slug: str = "alpha") -> dict:
    return {"invitation_id": w.fresh_invitation(slug)[0]}


def _venue(w: World, slug: str = "alpha") -> dict:
    return {"venue_id": w.venues[slug]}


def _document(w: World, slug: str = "alpha") -> dict:
    return {"venue_id": w.venues[slug], "document_id": w.documents[slug]}


def _fresh_document(w: World, slug: str = "alpha") -> dict:
    venue_id, document_id = w.fresh_document(slug)
    return {"venue_id": venue_id, "document_id": document_id}


def _review_venue(w: World, slug: str = "alpha") -> dict:
    return {"tenant_id": w._tenant(slug).id, "venue_id": w.venues[slug]}


def _review_document(w: World, slug: str = "alpha") -> dict:
    return {"tenant_id": w._tenant(slug).id, "document_id": w.documents[slug]}


def _mismatched_review_venue(w: World) -> dict:
    # alpha's tenant id with beta's venue id: the pair must match, or 404
    return {"tenant_id": w.alpha.id, "venue_id": w.venues["beta"]}


def _mismatched_review_document(w: World) -> dict:
    return {"tenant_id": w.alpha.id, "document_id": w.documents["beta"]}


def _lot(w: World, slug: str = "alpha") -> dict:
    """A lot with doses at the tenant's venue (made once per world: empty POSTs change nothing)."""
    lots = w.__dict__.setdefault("_lots", {})
    if slug not in lots:
        from tenants.stock.services import create_product
        from tenants.stock.services import receive_lot

        with tenant_context(w._tenant(slug)):
            product = create_product("Matrix vaccine", "Test", doses_per_vial=1)
            expiry = dt.date.today() + dt.timedelta(days=365)
            lots[slug] = receive_lot(w.venues[slug], product.id, "M-1", expiry, doses=5).id
            db.session.commit()
    return {"lot_id": lots[slug]}


def _campaign(w: World, slug: str = "alpha") -> dict:
    """A draft campaign with one slot and no venue (made once per world: publishing it is
    refused, and no other empty POST changes it)."""
    campaigns = w.__dict__.setdefault("_campaigns", {})
    if slug not in campaigns:
        from tenants.campaigns.models import Audience
        from tenants.campaigns.models import Campaign
        from tenants.campaigns.models import Slot
        from tenants.stock.services import create_product

        with tenant_context(w._tenant(slug)):
            product = create_product("Matrix campaign vaccine", "Test")
            day = dt.date(2030, 1, 7)
            campaign = Campaign(
                name="Matrix",
                slug="matrix",
                audience=Audience.PUBLIC,
                product_id=product.id,
                starts_on=day,
                ends_on=day,
            )
            db.session.add(campaign)
            db.session.flush()
            at = dt.datetime(2030, 1, 7, 2, tzinfo=dt.UTC)
            slot = Slot(
                campaign_id=campaign.id,
                venue_id=w.venues[slug],
                starts_at=at,
                ends_at=at + dt.timedelta(minutes=15),
                capacity=1,
                booked=0,
            )
            db.session.add(slot)
            db.session.commit()
            campaigns[slug] = (campaign.id, slot.id)
    return {"campaign_id": campaigns[slug][0]}


def _slot(w: World, slug: str = "alpha") -> dict:
    campaign = _campaign(w, slug)
    return {**campaign, "slot_id": w.__dict__["_campaigns"][slug][1]}


#: endpoint → Case. Every helper that adds routes adds their lines here.
ROUTES: dict[str, Case] = {
    # core
    "static": Case(everyone(), lambda w: {"filename": "sentra.css"}),
    "core.static": Case(everyone(), lambda w: {"filename": "sentra.css"}),
    "core.home": Case(everyone()),
    "core.favicon": Case(everyone()),
    "core.healthz": Case(everyone()),
    "core.readyz": Case(everyone()),
    "files.download": Case(everyone(), lambda w: {"token": w.file_token()}),
    # auth (public pages; signed-in people are sent on, never refused)
    "auth.sign_up": Case(everyone()),
    "auth.check_email": Case(everyone()),
    "auth.resend_verification": Case(everyone()),
    "auth.verify_email": Case(everyone(OK), lambda w: {"token": "not-a-real-token"}),
    "auth.sign_in": Case(everyone()),
    "auth.sign_in_code": Case(everyone(LOGIN)),  # no sign-in under way: back to sign-in
    "auth.sign_out": Case(everyone()),
    # Outside a sign-in it sends people on (confirm the password, or their account page).
    "auth.totp_setup": Case(signed_in()),
    "auth.recovery_codes": Case(signed_in()),  # nothing to show: sent to the account page
    # Every role may move two-factor to a new app (without it: sent to the setup page).
    "auth.totp_replace": Case(signed_in()),
    "auth.confirm_password": Case(signed_in()),
    "auth.account": Case(signed_in()),
    "auth.change_password": Case(signed_in()),
    # Reviewers and platform admins must keep two-factor sign-in.
    "auth.totp_disable": Case({**signed_in(), REVIEWER: FORBIDDEN, PLATFORM_ADMIN: FORBIDDEN}),
    "auth.change_language": Case(signed_in()),
    "auth.reset_request": Case(everyone()),
    "auth.reset_password": Case(everyone(), lambda w: {"token": "not-a-real-token"}),
    # onboarding: sign-up, team, invitations
    "signup.organisation": Case(everyone(), by_method={"POST": signed_in()}),
    "console.dashboard": Case(member(Role.CHECKIN)),
    "team.index": Case(member(Role.ADMIN)),
    "team.invite": Case(member(Role.ADMIN)),
    "team.resend": Case(
        member(Role.ADMIN), _invitation_target, foreign=lambda w: _invitation_target(w, "beta")
    ),
    "team.revoke": Case(
        member(Role.ADMIN), _invitation_target, foreign=lambda w: _invitation_target(w, "beta")
    ),
    "team.change_role": Case(
        member(Role.ADMIN), _member_target, foreign=lambda w: _member_target(w, "beta")
    ),
    "team.remove": Case(
        member(Role.ADMIN), _member_target, foreign=lambda w: _member_target(w, "beta")
    ),
    "team.end_date": Case(
        member(Role.ADMIN), _member_target, foreign=lambda w: _member_target(w, "beta")
    ),
    # The link is the permission to see the page; accepting needs the invited account.
    "invitations.show": Case(
        everyone(),
        lambda w: {"token": w.fresh_invitation()[1]},
        by_method={"POST": signed_in(FORBIDDEN)},
    ),
    # onboarding: venues and documents
    "venues.index": Case(member(Role.COORDINATOR)),
    "venues.create": Case(member(Role.ADMIN)),
    "venues.edit": Case(member(Role.ADMIN), _venue, foreign=lambda w: _venue(w, "beta")),
    "venues.detail": Case(member(Role.COORDINATOR), _venue, foreign=lambda w: _venue(w, "beta")),
    "venues.upload": Case(member(Role.ADMIN), _venue, foreign=lambda w: _venue(w, "beta")),
    "venues.document": Case(
        member(Role.COORDINATOR), _document, foreign=lambda w: _document(w, "beta")
    ),
    "venues.thumbnail": Case(
        member(Role.COORDINATOR), _document, foreign=lambda w: _document(w, "beta")
    ),
    "venues.delete_document": Case(
        member(Role.ADMIN), _fresh_document, foreign=lambda w: _document(w, "beta")
    ),
    "venues.submit": Case(member(Role.ADMIN), _venue, foreign=lambda w: _venue(w, "beta")),
    # onboarding: the ministry review console
    "review.queue": Case(platform(PlatformRole.REVIEWER)),
    "review.venue": Case(
        platform(PlatformRole.REVIEWER),
        _review_venue,
        foreign=_mismatched_review_venue,
        foreign_persona=REVIEWER,
    ),
    "review.claim": Case(
        platform(PlatformRole.REVIEWER),
        _review_venue,
        foreign=_mismatched_review_venue,
        foreign_persona=REVIEWER,
    ),
    "review.release": Case(
        platform(PlatformRole.REVIEWER),
        _review_venue,
        foreign=_mismatched_review_venue,
        foreign_persona=REVIEWER,
    ),
    "review.decide": Case(
        platform(PlatformRole.REVIEWER),
        _review_venue,
        foreign=_mismatched_review_venue,
        foreign_persona=REVIEWER,
    ),
    "review.document": Case(
        platform(PlatformRole.REVIEWER),
        _review_document,
        foreign=_mismatched_review_document,
        foreign_persona=REVIEWER,
    ),
    "review.thumbnail": Case(
        platform(PlatformRole.REVIEWER),
        _review_document,
        foreign=_mismatched_review_document,
        foreign_persona=REVIEWER,
    ),
    # onboarding: platform admin
    "admin.tenants": Case(platform(PlatformRole.PLATFORM_ADMIN)),
    "admin.tenant": Case(
        platform(PlatformRole.PLATFORM_ADMIN), lambda w: {"tenant_id": w.alpha.id}
    ),
    "admin.audit": Case(platform(PlatformRole.PLATFORM_ADMIN), lambda w: {"tenant_id": w.alpha.id}),
    "admin.suspend": Case(
        platform(PlatformRole.PLATFORM_ADMIN), lambda w: {"tenant_id": w.alpha.id}
    ),
    "admin.reactivate": Case(
        platform(PlatformRole.PLATFORM_ADMIN), lambda w: {"tenant_id": w.alpha.id}
    ),
    "admin.reviewers": Case(platform(PlatformRole.PLATFORM_ADMIN)),
    "admin.disable_reviewer": Case(
        platform(PlatformRole.PLATFORM_ADMIN), lambda w: {"user_id": w.fresh_reviewer().id}
    ),
    "admin.enable_reviewer": Case(
        platform(PlatformRole.PLATFORM_ADMIN), lambda w: {"user_id": w.fresh_reviewer().id}
    ),
    "admin.resend_reviewer_setup": Case(
        platform(PlatformRole.PLATFORM_ADMIN), lambda w: {"user_id": w.fresh_reviewer().id}
    ),
    # tenants: stock (check-in staff look, coordinators change)
    "stock.index": Case(member(Role.CHECKIN)),
    "stock.receive": Case(member(Role.COORDINATOR)),
    "stock.lot": Case(member(Role.CHECKIN), _lot, foreign=lambda w: _lot(w, "beta")),
    "stock.transfer": Case(member(Role.COORDINATOR), _lot, foreign=lambda w: _lot(w, "beta")),
    "stock.waste": Case(member(Role.COORDINATOR), _lot, foreign=lambda w: _lot(w, "beta")),
    "stock.products": Case(member(Role.CHECKIN)),
    "stock.add_product": Case(member(Role.COORDINATOR)),
    # tenants: campaigns (coordinators and above)
    "campaigns.index": Case(member(Role.COORDINATOR)),
    "campaigns.create": Case(member(Role.COORDINATOR)),
    **{
        f"campaigns.{name}": Case(
            member(Role.COORDINATOR), _campaign, foreign=lambda w: _campaign(w, "beta")
        )
        for name in ("detail", "edit", "generate", "publish", "close", "slots")
    },
    "campaigns.set_capacity": Case(
        member(Role.COORDINATOR), _slot, foreign=lambda w: _slot(w, "beta")
    ),
    # tenants: API keys, billing
    "api_keys.index": Case(member(Role.ADMIN)),
    "api_keys.revoke": Case(
        member(Role.ADMIN),
        lambda w: {"key_id": w.fresh_api_key()},
        foreign=lambda w: {"key_id": w.fresh_api_key("beta")},
    ),
    "billing.page": Case(member(Role.OWNER)),
    "billing.checkout": Case(member(Role.OWNER)),
    "billing.portal": Case(member(Role.OWNER)),
    # Stripe calls it, signed; a browser session is no key to it. Billing is off in
    # the tests (the embedded default), so the webhook does not exist: 404.
    "billing_webhook.stripe_webhook": Case(everyone(HIDDEN)),
    # The JSON API authenticates by API key only: a browser session does not open it.
    "api_v1.list_venues": Case(everyone(UNAUTHORIZED)),
    "api_v1.get_venue": Case(everyone(UNAUTHORIZED), _venue),
    # (the key is checked before anything is loaded, so any id will do below)
    "api_v1.list_campaigns": Case(everyone(UNAUTHORIZED)),
    "api_v1.get_campaign": Case(everyone(UNAUTHORIZED), lambda w: {"campaign_id": uuid7()}),
    "api_v1.get_availability": Case(everyone(UNAUTHORIZED), lambda w: {"campaign_id": uuid7()}),
    "api_v1.create_booking": Case(everyone(UNAUTHORIZED)),
    "api_v1.get_booking": Case(everyone(UNAUTHORIZED), lambda w: {"booking_id": uuid7()}),
    "api_v1.cancel": Case(everyone(UNAUTHORIZED), lambda w: {"booking_id": uuid7()}),
    "api_v1.reschedule": Case(everyone(UNAUTHORIZED), lambda w: {"booking_id": uuid7()}),
    "api_v1.openapi_json": Case(everyone()),
    "api_v1.docs": Case(everyone()),
    # --- public booking page (issue 5) ---
    # the same answer for everyone; a campaign of beta under alpha's address is 404
    "public.tenant": Case(everyone()),
    **{
        f"public.{name}": Case(
            everyone(),
            public_support.matrix_campaign,
            foreign=lambda w: {
                "campaign_slug": public_support.matrix_campaign(w, "beta")["campaign_slug"]
            },
        )
        for name in ("campaign", "details", "review", "confirm", "done")
    },
    # the venue is not one of the campaign's approved venues: 404 whoever asks
    **{
        f"public.{name}": Case(everyone(HIDDEN), public_support.matrix_venue_day)
        for name in ("venue", "day", "waitlist")
    },
    "public_static.static": Case(everyone(), lambda w: {"filename": "public.css"}),
    # --- vouchers and manage-booking links (issue 5) ---
    # the signed link is the door: a real one works for whoever holds it (a forged one,
    # naming beta's booking, is 404); the voucher (QR) token cannot manage
    **{
        f"vouchers.{name}": Case(
            everyone(),
            lambda w, purpose=purpose: voucher_support.matrix_token(w, purpose),
            foreign=lambda w, purpose=purpose: voucher_support.matrix_forged(w, purpose),
        )
        for name, purpose in (
            ("voucher", "voucher"),
            ("manage", "manage"),
            ("reschedule", "manage"),
            ("cancel", "manage"),
            ("offer", "offer"),
            ("accept", "offer"),
        )
    },
    "vouchers.service_worker": Case(everyone()),
    "vouchers.static": Case(everyone(), lambda w: {"filename": "vouchers.css"}),
    # --- rosters, eligibility, priority groups (issue 4) ---
    **{
        f"roster.{name}": Case(
            member(Role.COORDINATOR),
            roster_support.matrix_campaign,
            foreign=lambda w: roster_support.matrix_campaign(w, "beta"),
        )
        for name in ("index", "upload", "invite_codes", "priority_groups")
    },
    **{
        f"roster.{name}": Case(
            member(Role.COORDINATOR),
            roster_support.matrix_group,
            foreign=lambda w: roster_support.matrix_group(w, "beta"),
        )
        for name in ("update_group", "remove_group")
    },
    "roster.import_status": Case(
        member(Role.COORDINATOR),
        lambda w: {**roster_support.matrix_campaign(w), "run_id": uuid7()},
        foreign=lambda w: {**roster_support.matrix_campaign(w, "beta"), "run_id": uuid7()},
    ),
    "roster_public.proof": Case(everyone(), roster_support.matrix_public),
    # an unknown link answers 400 (not valid or expired), for everyone alike
    "roster_public.link": Case(
        everyone(), lambda w: {**roster_support.matrix_public(w), "token": "not-a-real-token"}
    ),
    "api_v1.upsert_roster": Case(everyone(UNAUTHORIZED), lambda w: {"campaign_id": uuid7()}),
    "api_v1.list_roster": Case(everyone(UNAUTHORIZED), lambda w: {"campaign_id": uuid7()}),
    # --- on site: check-in, screening, administration, board (issue 6) ---
    "onsite_static.static": Case(everyone(), lambda w: {"filename": "onsite.css"}),
    **{
        f"onsite.{name}": Case(member(Role.CHECKIN))
        for name in (
            "checkin",
            "choose_desk",
            "find",
            "lookup",
            "queue",
            "observation",
            "doses",
            "walk_in",
            "open_vial",
        )
    },
    **{
        f"onsite.{name}": Case(
            member(Role.CHECKIN),
            onsite_support.matrix_booking,
            foreign=lambda w: onsite_support.matrix_booking(w, "beta"),
        )
        for name in ("person", "confirm", "screening", "vaccinate")
    },
    "onsite.adverse_event": Case(
        member(Role.CHECKIN),
        onsite_support.matrix_administration,
        foreign=lambda w: onsite_support.matrix_administration(w, "beta"),
    ),
    # voiding a dose given is an admin's, with a reason
    "onsite.void": Case(
        member(Role.ADMIN),
        onsite_support.matrix_administration,
        foreign=lambda w: onsite_support.matrix_administration(w, "beta"),
    ),
    "onsite.close_vial": Case(
        member(Role.CHECKIN),
        onsite_support.matrix_vial,
        foreign=lambda w: onsite_support.matrix_vial(w, "beta"),
    ),
    "onsite.questions": Case(member(Role.COORDINATOR)),
    **{
        f"onsite.{name}": Case(member(Role.CHECKIN), _venue, foreign=lambda w: _venue(w, "beta"))
        for name in ("board", "board_live")
    },
    "onsite.close_day": Case(member(Role.COORDINATOR), _venue, foreign=lambda w: _venue(w, "beta")),
    # --- reporting, dashboards, exports (issue 7) ---
    # coordinators and above; each export also names its own minimum role (tested in
    # tests/tenants/reporting/test_runs.py: the doses export is for admins and owners)
    "reports.index": Case(member(Role.COORDINATOR)),
    **{
        f"reports.{name}": Case(
            member(Role.COORDINATOR),
            reporting_support.matrix_run,
            foreign=lambda w: reporting_support.matrix_run(w, "beta"),
        )
        for name in ("run", "download")
    },
    "reports.schedules_page": Case(member(Role.ADMIN)),
    "reports.stop_schedule": Case(
        member(Role.ADMIN),
        reporting_support.matrix_schedule,
        foreign=lambda w: reporting_support.matrix_schedule(w, "beta"),
    ),
    "reports.dashboard": Case(
        member(Role.COORDINATOR), _campaign, foreign=lambda w: _campaign(w, "beta")
    ),
    "review_stats.stats": Case(platform(PlatformRole.REVIEWER)),
    "api_v1.create_export": Case(everyone(UNAUTHORIZED)),
    "api_v1.list_exports": Case(everyone(UNAUTHORIZED)),
    "api_v1.get_export": Case(everyone(UNAUTHORIZED), lambda w: {"run_id": uuid7()}),
    "api_v1.download_export": Case(everyone(UNAUTHORIZED), lambda w: {"run_id": uuid7()}),
    "api_v1.list_checkins": Case(everyone(UNAUTHORIZED)),
}


# --- running it ---------------------------------------------------------------------------


def classify(response) -> str:
    code = response.status_code
    if code >= 500:
        return f"server error {code}"
    if code == 401:
        return UNAUTHORIZED
    if code == 403:
        return FORBIDDEN
    if code == 404:
        return HIDDEN
    if code in (301, 302, 303, 307, 308) and urlparse(response.location).path == "/sign-in":
        return LOGIN
    return OK


def _matches(expected: str | int, response) -> bool:
    if isinstance(expected, int):
        return response.status_code == expected
    return classify(response) == expected


def _rules(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def _request(world: World, login, persona: str, rule, method: str, values: dict):
    client = world.app.test_client()  # the `client` fixture made it isolate each request
    if persona != ANON:
        # End the test's read transaction: an earlier request (sign-out) may have bumped
        # the persona's session version, and SQLite's snapshot would hide that.
        db.session.rollback()
        login(client, world.users[persona])
    values = dict(values)
    if "<tenant_slug>" in rule.rule:
        values["tenant_slug"] = "alpha"
    url = world.app.url_map.bind("localhost").build(rule.endpoint, values)
    response = client.open(url, method=method, data={} if method == "POST" else None)
    response.close()  # file downloads hold the file open until closed
    return response


def test_every_route_has_an_entry(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = sorted(endpoints - ROUTES.keys())
    stale = sorted(ROUTES.keys() - endpoints)
    assert not missing, f"routes without a line in the permission matrix: {missing}"
    assert not stale, f"matrix lines for routes that do not exist: {stale}"
    for endpoint, case in ROUTES.items():
        for expect in (case.expect, *case.by_method.values()):
            assert set(expect) == set(PERSONAS), f"{endpoint}: every persona needs an answer"


def _refused(outcome: str | int) -> bool:
    return outcome in (LOGIN, FORBIDDEN, HIDDEN, UNAUTHORIZED)


def test_permission_matrix(app, client, backend, create_tenant, create_user, login):
    world = build_world(app, create_tenant, create_user)
    failures = []
    for rule, method in _rules(app):
        case = ROUTES.get(rule.endpoint)
        if case is None:
            continue  # reported by test_every_route_has_an_entry
        expect = case.by_method.get(method, case.expect)
        for persona in PERSONAS:
            if backend == "postgresql" and _refused(expect[persona]):
                continue  # the door is the same Python on both databases (module docstring)
            response = _request(world, login, persona, rule, method, case.params(world))
            if not _matches(expect[persona], response):
                failures.append(
                    f"{method} {rule.rule} ({rule.endpoint}) as {persona}: expected "
                    f"{expect[persona]}, got {response.status_code} {response.location or ''}"
                )
    # An empty POST must never create anything: a form posted with no fields once
    # made an account with an empty email (which then broke sign-in for everyone).
    empty = db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.email == ""))
    if empty:
        failures.append(f"{empty} account(s) with an empty email were created by empty forms")
    assert not failures, "\n".join(failures)


def test_another_tenants_objects_answer_404(app, client, create_tenant, create_user, login):
    world = build_world(app, create_tenant, create_user)
    failures = []
    checked = 0
    for rule, method in _rules(app):
        case = ROUTES.get(rule.endpoint)
        if case is None or case.foreign is None:
            continue
        response = _request(world, login, case.foreign_persona, rule, method, case.foreign(world))
        checked += 1
        if response.status_code != 404:
            failures.append(
                f"{method} {rule.rule} ({rule.endpoint}) with beta's ids as "
                f"{case.foreign_persona}: got {response.status_code}"
            )
    assert checked >= 10
    assert not failures, "\n".join(failures)


def test_every_console_and_platform_route_declares_who_may_use_it(app):
    """A console route without ``require_role`` would be open to any member, even one
    whose role should not see it; a platform route without ``require_platform_role``
    to anyone signed in."""
    undeclared = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.rule.startswith("/o/<tenant_slug>") and not hasattr(view, "required_role"):
            undeclared.append(f"{rule.rule} ({rule.endpoint}) has no require_role")
        if rule.rule.startswith(("/admin", "/review")) and not hasattr(
            view, "required_platform_roles"
        ):
            undeclared.append(f"{rule.rule} ({rule.endpoint}) has no require_platform_role")
    assert not undeclared, "\n".join(undeclared)
