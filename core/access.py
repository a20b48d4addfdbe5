"""Who may see what: the tenant console's URL prefix, roles, and load-or-404.

Every route under ``/o/<tenant>/`` resolves the tenant from the URL, requires a
current membership (otherwise 404: a stranger learns nothing, not even that the
tenant exists) and scopes the session to the tenant for the rest of the request.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from flask import Blueprint
from flask import abort
from flask import g
from flask_login import current_user

from core.extensions import db
from core.extensions import login_manager
from core.models import Membership
from core.models import PlatformRole
from core.models import Role
from core.models import Tenant
from core.tenancy import current_tenant_id
from core.tenancy import scope_request_to

#: what each role may do includes everything the roles below it may do
ROLE_RANK = {Role.CHECKIN: 1, Role.COORDINATOR: 2, Role.ADMIN: 3, Role.OWNER: 4}


def tenant_blueprint(name: str, import_name: str, **kwargs) -> Blueprint:
    """A blueprint mounted under ``/o/<tenant_slug>`` for members of that tenant."""
    prefix = "/o/<tenant_slug>" + kwargs.pop("url_prefix", "")
    bp = Blueprint(name, import_name, url_prefix=prefix, **kwargs)

    @bp.url_value_preprocessor
    def _pull_slug(endpoint, values):
        g.tenant_slug = values.pop("tenant_slug", None) if values else None

    @bp.url_defaults
    def _add_slug(endpoint, values):
        if "tenant_slug" not in values and g.get("tenant") is not None:
            values["tenant_slug"] = g.tenant.slug

    @bp.before_request
    def _enter_tenant():
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == g.tenant_slug))
        membership = tenant and db.session.get(Membership, (tenant.id, current_user.id))
        if membership is None or not membership.is_current():
            abort(404)
        g.tenant, g.membership = tenant, membership
        scope_request_to(tenant)
        return None

    return bp


def require_role(minimum: Role) -> Callable:
    """Allow members whose role is ``minimum`` or above; others get 403."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            membership = g.get("membership")
            if membership is None:
                abort(404)
            if ROLE_RANK[membership.role] < ROLE_RANK[minimum]:
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = minimum
        return wrapped

    return decorator


def require_platform_role(*roles: PlatformRole) -> Callable:
    """Allow signed-in users with one of the platform roles (their sign-in passed TOTP)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.platform_role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_platform_roles = roles
        return wrapped

    return decorator


def get_or_404(model: type, object_id: uuid.UUID | str):
    """Load a tenant-owned object of the current tenant by id, or 404.

    Another tenant's id answers 404 exactly like an id that does not exist.
    """
    try:
        oid = object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(str(object_id))
    except ValueError:
        abort(404)
    tenant_id = current_tenant_id()
    if tenant_id is None:
        raise RuntimeError("get_or_404 on a tenant-owned model needs a tenant scope")
    obj = db.session.get(model, (tenant_id, oid))
    if obj is None:
        abort(404)
    return obj
