"""Team: invitations end to end, role rules, the last owner, removal and end dates."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.db import utcnow
from core.extensions import db
from core.models import AuditEntry
from core.models import Membership
from core.models import Role
from core.models import User
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from onboarding.team import services
from onboarding.team.models import Invitation
from onboarding.team.services import TeamError
from tests.onboarding.helpers import link_path
from tests.onboarding.helpers import sent_mail


@pytest.fixture
def team(create_tenant, create_user):
    """A tenant with one member of each role."""
    tenant = create_tenant("acme")
    members = {
        role: create_user(f"{role.value}@acme.test", tenant=tenant, role=role) for role in Role
    }
    return tenant, members


def _audit(tenant) -> list[str]:
    with cross_tenant(Scope.PLATFORM):
        return db.session.scalars(
            sa.select(AuditEntry.action)
            .where(AuditEntry.tenant_id == tenant.id)
            .order_by(AuditEntry.at)
        ).all()


def test_invitation_end_to_end(app, client, team, create_user, login):
    tenant, members = team
    login(client, members[Role.ADMIN])
    response = client.post(
        "/o/acme/team/invitations",
        data={"email": "  New.Person@Example.TEST", "role": "coordinator"},
    )
    assert response.status_code == 302
    mails = sent_mail(app, "new.person@example.test")
    assert len(mails) == 1
    assert "Tenant" in mails[0]["Subject"] or tenant.name in mails[0]["Subject"]
    path = link_path(mails[0], "/invitations/")

    # Anonymous: the page offers sign-up with that email (no account exists yet).
    client.post("/sign-out")
    page = client.get(path)
    assert page.status_code == 200
    assert "new.person@example.test" in page.get_data(as_text=True)
    assert "/sign-up?" in page.get_data(as_text=True)
    # Accepting without signing in sends the visitor to sign in first, and back.
    assert "/sign-in" in client.post(path).location

    # Signed in with another email: refused, nothing created.
    stranger = create_user("someone.else@example.test")
    login(client, stranger)
    assert client.post(path).status_code == 403
    assert db.session.get(Membership, (tenant.id, stranger.id)) is None

    invitee = create_user("new.person@example.test", verified=False)
    login(client, invitee)
    response = client.post(path)
    assert response.status_code == 302 and response.location.endswith("/o/acme/")
    membership = db.session.get(Membership, (tenant.id, invitee.id))
    assert membership.role == Role.COORDINATOR
    db.session.refresh(invitee)
    assert invitee.email_verified_at is not None  # the link proved the address
    assert client.get("/o/acme/").status_code == 200
    # The link works once.
    again = client.post(path)
    assert again.status_code == 200 and "already accepted" in again.get_data(as_text=True)
    assert {"onboarding.invitation.created", "onboarding.invitation.accepted"} <= set(
        _audit(tenant)
    )


def test_resend_rotates_the_link_and_revoke_kills_it(app, client, team, login):
    tenant, members = team
    login(client, members[Role.OWNER])
    client.post("/o/acme/team/invitations", data={"email": "x@example.test", "role": "admin"})
    first = link_path(sent_mail(app, "x@example.test")[0], "/invitations/")
    with tenant_context(tenant):
        invitation = db.session.scalar(sa.select(Invitation))
    # A second invitation to the same address is refused: resend instead.
    again = client.post(
        "/o/acme/team/invitations", data={"email": "x@example.test", "role": "admin"}
    )
    assert again.status_code == 409
    assert client.post(f"/o/acme/team/invitations/{invitation.id}/resend").status_code == 302
    second = link_path(sent_mail(app, "x@example.test")[1], "/invitations/")
    assert second != first
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    assert client.post(f"/o/acme/team/invitations/{invitation.id}/revoke").status_code == 302
    assert "withdrawn" in client.get(second).get_data(as_text=True)
    assert client.post(second).status_code == 200  # shows the state, accepts nothing
    assert {"onboarding.invitation.resent", "onboarding.invitation.revoked"} <= set(_audit(tenant))


def test_expired_and_forged_links(app, client, team, create_user, login):
    tenant, members = team
    login(client, members[Role.OWNER])
    client.post("/o/acme/team/invitations", data={"email": "late@example.test", "role": "checkin"})
    path = link_path(sent_mail(app, "late@example.test")[0], "/invitations/")
    with tenant_context(tenant):
        invitation = db.session.scalar(sa.select(Invitation))
        invitation.expires_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
    late = create_user("late@example.test")
    login(client, late)
    assert "expired" in client.get(path).get_data(as_text=True)
    assert client.post(path).status_code == 200  # the page, not a membership
    assert db.session.get(Membership, (tenant.id, late.id)) is None
    assert client.get(path[:-3] + "abc").status_code == 404
    assert client.get("/invitations/not-a-token").status_code == 404


def test_invitation_roles_admins_cannot_invite_admins(client, team, login):
    _tenant, members = team
    login(client, members[Role.ADMIN])
    assert (
        client.post(
            "/o/acme/team/invitations", data={"email": "boss@example.test", "role": "admin"}
        ).status_code
        == 403
    )
    # Owners are never invited by email; promotion makes them.
    login(client, members[Role.OWNER])
    response = client.post(
        "/o/acme/team/invitations", data={"email": "boss@example.test", "role": "owner"}
    )
    assert response.status_code == 422
    # A current member cannot be invited again.
    response = client.post(
        "/o/acme/team/invitations", data={"email": "checkin@acme.test", "role": "checkin"}
    )
    assert response.status_code == 409
    assert "already a member" in response.get_data(as_text=True)
    # Coordinators and check-in staff do not manage the team at all.
    login(client, members[Role.COORDINATOR])
    assert client.get("/o/acme/team/").status_code == 403


def test_role_changes_follow_the_rules_and_notify(app, client, team, login):
    tenant, members = team
    coordinator = members[Role.COORDINATOR]
    login(client, members[Role.ADMIN])
    url = f"/o/acme/team/members/{coordinator.id}/role"
    assert client.post(url, data={"role": "checkin"}).status_code == 302
    assert db.session.get(Membership, (tenant.id, coordinator.id)).role == Role.CHECKIN
    assert "checkin" in sent_mail(app, coordinator.email)[-1].get_body(("plain",)).get_content()
    # An admin cannot make admins or touch owners and admins.
    assert client.post(url, data={"role": "admin"}).status_code == 403
    owner_url = f"/o/acme/team/members/{members[Role.OWNER].id}/role"
    assert client.post(owner_url, data={"role": "checkin"}).status_code == 403
    # An owner can.
    login(client, members[Role.OWNER])
    assert client.post(url, data={"role": "owner"}).status_code == 302
    assert db.session.get(Membership, (tenant.id, coordinator.id)).role == Role.OWNER
    assert "onboarding.member.role_changed" in _audit(tenant)


def test_the_last_owner_cannot_be_removed_demoted_or_end_dated(app, client, team, login):
    tenant, members = team
    owner = members[Role.OWNER]
    login(client, owner)
    base = f"/o/acme/team/members/{owner.id}"
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    for response in (
        client.post(f"{base}/role", data={"role": "admin"}),
        client.post(f"{base}/remove"),
        client.post(f"{base}/end-date", data={"ends_on": tomorrow}),
    ):
        assert response.status_code == 409
        assert "last owner" in response.get_data(as_text=True)
    assert db.session.get(Membership, (tenant.id, owner.id)).role == Role.OWNER
    # With a second owner, the first may step down.
    admin = members[Role.ADMIN]
    assert (
        client.post(f"/o/acme/team/members/{admin.id}/role", data={"role": "owner"}).status_code
        == 302
    )
    assert client.post(f"{base}/role", data={"role": "admin"}).status_code == 302
    # ...and now the former admin is the last owner.
    login(client, admin)
    assert client.post(f"/o/acme/team/members/{admin.id}/remove").status_code == 409


def test_last_owner_rule_in_the_service(app, team):
    tenant, members = team
    owner_membership = db.session.get(Membership, (tenant.id, members[Role.OWNER].id))
    with app.test_request_context(), tenant_context(tenant):
        with pytest.raises(TeamError) as excinfo:
            services.remove_member(owner_membership, owner_membership)
        assert excinfo.value.code == "last_owner"
        admin_membership = db.session.get(Membership, (tenant.id, members[Role.ADMIN].id))
        with pytest.raises(TeamError) as excinfo:
            services.change_member_role(owner_membership, admin_membership, Role.ADMIN)
        assert excinfo.value.code == "owner_required"


def test_removed_member_loses_access_and_is_told(app, client, team, login):
    tenant, members = team
    checkin = members[Role.CHECKIN]
    login(client, members[Role.ADMIN])
    assert client.post(f"/o/acme/team/members/{checkin.id}/remove").status_code == 302
    assert db.session.get(Membership, (tenant.id, checkin.id)) is None
    assert "removed" in sent_mail(app, checkin.email)[-1]["Subject"] or sent_mail(
        app, checkin.email
    )
    login(client, checkin)
    assert client.get("/o/acme/").status_code == 404
    assert "onboarding.member.removed" in _audit(tenant)


def test_end_dated_membership_loses_access_when_it_ends(app, client, team, login):
    tenant, members = team
    checkin = members[Role.CHECKIN]
    login(client, members[Role.OWNER])
    day = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert (
        client.post(
            f"/o/acme/team/members/{checkin.id}/end-date", data={"ends_on": day}
        ).status_code
        == 302
    )
    membership = db.session.get(Membership, (tenant.id, checkin.id))
    assert membership.ends_at > utcnow()
    assert day in sent_mail(app, checkin.email)[-1].get_body(("plain",)).get_content()
    login(client, checkin)
    assert client.get("/o/acme/").status_code == 200  # not yet
    membership.ends_at = utcnow() - dt.timedelta(seconds=1)  # the day has passed
    db.session.commit()
    assert client.get("/o/acme/").status_code == 404
    # A past date is refused; clearing restores access.
    login(client, members[Role.OWNER])
    past = client.post(
        f"/o/acme/team/members/{checkin.id}/end-date", data={"ends_on": "2020-01-01"}
    )
    assert past.status_code == 400
    assert (
        client.post(f"/o/acme/team/members/{checkin.id}/end-date", data={"ends_on": ""}).status_code
        == 302
    )
    login(client, checkin)
    assert client.get("/o/acme/").status_code == 200
    assert {"onboarding.member.end_date_set", "onboarding.member.end_date_cleared"} <= set(
        _audit(tenant)
    )


def test_another_tenants_member_and_invitation_ids_answer_404(
    app, client, team, create_tenant, create_user, login
):
    _tenant, members = team
    other = create_tenant("other")
    outsider = create_user(tenant=other, role=Role.CHECKIN)
    with app.test_request_context(), tenant_context(other):
        other_owner = create_user(tenant=other, role=Role.OWNER)
        invitation = services.invite_member(
            other,
            db.session.get(Membership, (other.id, other_owner.id)),
            email="z@example.test",
            role=Role.CHECKIN,
        )
        invitation_id = invitation.id
        db.session.commit()
    login(client, members[Role.OWNER])
    assert client.post(f"/o/acme/team/members/{outsider.id}/remove").status_code == 404
    assert client.post(f"/o/acme/team/invitations/{invitation_id}/revoke").status_code == 404
    assert db.session.get(Membership, (other.id, outsider.id)) is not None


def test_two_owners_demoting_each_other_at_once_leave_one_owner(postgres, tmp_path):
    """PostgreSQL: the owner rows are locked, so the second demotion sees the first."""
    import threading

    from core.app import create_app
    from tests.conftest import base_config
    from tests.fixtures import _HASH

    url = postgres["app_url"]
    app = create_app(
        {**base_config(tmp_path), "SQLALCHEMY_DATABASE_URI": url, "MIGRATION_DATABASE_URL": url}
    )
    try:
        with app.app_context():
            from core.models import Tenant
            from core.models import TenantKind
            from core.models import User

            tenant = Tenant(slug="duo", name="Duo", kind=TenantKind.CLINIC)
            a = User(email="a@duo.test", name="A", password_hash=_HASH)
            b = User(email="b@duo.test", name="B", password_hash=_HASH)
            db.session.add_all(
                [
                    tenant,
                    Membership(tenant=tenant, user=a, role=Role.OWNER),
                    Membership(tenant=tenant, user=b, role=Role.OWNER),
                ]
            )
            db.session.commit()
            ids = (tenant.id, a.id, b.id)
            db.session.remove()

        first_locked, outcomes = threading.Event(), {}

        def demote(actor_id, target_id, *, hold: bool):
            tenant_id = ids[0]
            with app.test_request_context(), tenant_context(tenant_id):
                try:
                    actor = db.session.get(Membership, (tenant_id, actor_id))
                    target = db.session.get(Membership, (tenant_id, target_id))
                    if not hold:
                        first_locked.wait(5)
                    services.change_member_role(target, actor, Role.ADMIN)
                    if hold:
                        first_locked.set()
                        threading.Event().wait(0.5)  # keep the locks while the other starts
                    db.session.commit()
                    outcomes[target_id] = "demoted"
                except TeamError as exc:
                    db.session.rollback()
                    outcomes[target_id] = exc.code
                finally:
                    first_locked.set()
                    db.session.remove()

        _, a_id, b_id = ids
        threads = [
            threading.Thread(target=demote, args=(b_id, a_id), kwargs={"hold": True}),
            threading.Thread(target=demote, args=(a_id, b_id), kwargs={"hold": False}),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert outcomes == {a_id: "demoted", b_id: "last_owner"}
        with app.app_context():
            owners = db.session.scalars(
                sa.select(Membership).where(
                    Membership.tenant_id == ids[0], Membership.role == Role.OWNER
                )
            ).all()
            assert [m.user_id for m in owners] == [b_id]
            db.session.remove()
    finally:
        with app.app_context():
            db.engine.dispose()
        from tests.conftest import truncate_all

        truncate_all(postgres["owner_url"])


def test_team_page_lists_members_and_offers_only_allowed_roles(app, client, team, login):
    _tenant, members = team
    login(client, members[Role.OWNER])
    client.post("/o/acme/team/invitations", data={"email": "p@example.test", "role": "checkin"})
    page = client.get("/o/acme/team/").get_data(as_text=True)
    for role in Role:
        assert f'data-member="{role.value}@acme.test"' in page
    assert 'data-invitation="p@example.test"' in page
    assert '<option value="admin"' in page  # owners may invite admins
    login(client, members[Role.ADMIN])
    page = client.get("/o/acme/team/").get_data(as_text=True)
    invite_form = page[page.index('id="role" name="role"') :]
    assert '<option value="admin"' not in invite_form.split("</select>")[0]
    # The console links the team page for owners and admins, not for check-in staff.
    assert "/o/acme/team/" in client.get("/o/acme/").get_data(as_text=True)
    login(client, members[Role.CHECKIN])
    assert "/o/acme/team/" not in client.get("/o/acme/").get_data(as_text=True)


@pytest.fixture
def limited(app_config):
    app_config.update(RATELIMIT_ENABLED=True, TEAM_INVITE_LIMIT="2/hour")
    return app_config


def test_invitations_are_capped_per_tenant(limited, app, client, team, login):
    _tenant, members = team
    login(client, members[Role.OWNER])
    for n in range(2):
        response = client.post(
            "/o/acme/team/invitations", data={"email": f"n{n}@example.test", "role": "checkin"}
        )
        assert response.status_code == 302
    # The cap is the tenant's, whoever asks.
    login(client, members[Role.ADMIN])
    response = client.post(
        "/o/acme/team/invitations", data={"email": "n3@example.test", "role": "checkin"}
    )
    assert response.status_code == 429
    assert sent_mail(app, "n3@example.test") == []


def test_invitee_without_account_signs_up_on_the_way_and_joins(app, client, team, login):
    """Through auth's real pages: invitation link → sign-up → verify → sign-in → accept."""
    from urllib.parse import urlparse

    from tests.fixtures import PASSWORD

    tenant, members = team
    login(client, members[Role.OWNER])
    client.post("/o/acme/team/invitations", data={"email": "budi@example.test", "role": "checkin"})
    path = link_path(sent_mail(app, "budi@example.test")[-1], "/invitations/")
    client.post("/sign-out")
    page = client.get(path).get_data(as_text=True).replace("%2F", "/")
    assert f"/sign-up?next={path}" in page
    response = client.post(
        f"/sign-up?next={path}",
        data={"name": "Budi", "email": "budi@example.test", "password": PASSWORD},
    )
    assert response.status_code == 302
    verify = link_path(sent_mail(app, "budi@example.test")[-1], "/verify-email/")
    response = client.get(verify)
    response = client.post(
        response.location, data={"email": "budi@example.test", "password": PASSWORD}
    )
    assert urlparse(response.location).path == path
    assert client.post(path).location.endswith("/o/acme/")
    budi = db.session.scalar(sa.select(User).where(User.email == "budi@example.test"))
    assert db.session.get(Membership, (tenant.id, budi.id)).role == Role.CHECKIN
