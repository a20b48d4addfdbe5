"""Platform-wide pages: the front page and health checks."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint
from flask import g
from flask import render_template
from flask_login import current_user

from core.extensions import db
from core.extensions import limiter
from core.models import Membership

bp = Blueprint(
    "core",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/core",
)


@bp.route("/")
def home():
    """Sign-in and sign-up for visitors; the list of one's organisations when signed in."""
    memberships = []
    if current_user.is_authenticated:
        memberships = [
            m
            for m in db.session.scalars(
                sa.select(Membership).where(Membership.user_id == current_user.id)
            )
            if m.is_current()
        ]
    return render_template("core/home.html", memberships=memberships)


@bp.route("/favicon.ico")
@limiter.exempt
def favicon():
    """Browsers ask for it on every site; an empty answer instead of a logged 404."""
    return "", 204, {"Cache-Control": "public, max-age=604800"}


@bp.route("/healthz")
@limiter.exempt
def healthz():
    """Liveness: the process answers. Touches nothing else."""
    return {"status": "ok"}


@bp.route("/readyz")
@limiter.exempt
def readyz():
    """Readiness: the database answers."""
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}


@bp.after_app_request
def remember_language(response):
    """Keep the language picked with ?lang= for the next pages (a visible switch, no JS)."""
    if choice := g.get("locale_choice"):
        response.set_cookie("lang", choice, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response
