"""Factory fixtures: callables that make rows, plus a way to sign in a test client."""

from __future__ import annotations

import itertools

import pytest

from core.auth.passwords import hash_password
from core.db import utcnow
from core.extensions import db
from core.models import Membership
from core.models import PlatformRole
from core.models import Role
from core.models import Tenant
from core.models import TenantKind
from core.models import TenantStatus
from core.models import User

_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"
#: argon2 is deliberately slow; hash the test password once
_HASH = hash_password(PASSWORD)


@pytest.fixture
def create_tenant(app):
    def create(
        slug: str | None = None,
        *,
        kind: TenantKind = TenantKind.CLINIC,
        status: TenantStatus = TenantStatus.ACTIVE,
        **kwargs,
    ) -> Tenant:
        n = next(_counter)
        tenant = Tenant(
            slug=slug or f"tenant-{n}",
            name=kwargs.pop("name", f"Tenant {n}"),
            kind=kind,
            status=status,
            **kwargs,
        )
        db.session.add(tenant)
        db.session.commit()
        return tenant

    return create


@pytest.fixture
def create_user(app):
    def create(
        email: str | None = None,
        *,
        tenant: Tenant | None = None,
        role: Role | None = None,
        platform_role: PlatformRole | None = None,
        verified: bool = True,
        **kwargs,
    ) -> User:
        n = next(_counter)
        user = User(
            email=email or f"user{n}@example.test",
            name=kwargs.pop("name", f"User {n}"),
            password_hash=_HASH,
            email_verified_at=utcnow() if verified else None,
            platform_role=platform_role,
            locale=kwargs.pop("locale", "en"),  # the suite reads English (see base_config)
            **kwargs,
        )
        db.session.add(user)
        if tenant is not None:
            db.session.add(Membership(tenant=tenant, user=user, role=role or Role.OWNER))
        db.session.commit()
        return user

    return create


@pytest.fixture
def login():
    """Sign a test client in as ``user`` (as a completed sign-in would, two-factor included)."""

    def sign_in(client, user: User) -> None:
        if user.needs_totp and not user.totp_secret:
            # A reviewer or platform admin is only ever signed in after setting up TOTP.
            from core.auth.totp import new_secret
            from core.auth.totp import seal_secret

            user.totp_secret = seal_secret(user, new_secret())
            db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True

    return sign_in


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on loopback (real HTTP), with throwaway credentials."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as mp:
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ):
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()
