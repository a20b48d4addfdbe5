"""Sign-in and sign-out (the foundation's minimal flow; extended by the auth work)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import Blueprint
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_babel import gettext as _
from flask_login import login_user
from flask_login import logout_user

from core.auth.passwords import verify_password
from core.extensions import db
from core.extensions import login_manager
from core.models import User

bp = Blueprint("auth", __name__, template_folder="templates")

login_manager.login_view = "auth.sign_in"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Resolve the session's "user id:session version"; an old version is signed out."""
    user_id, _, version = session_id.partition(":")
    try:
        user = db.session.get(User, uuid.UUID(user_id))
    except ValueError:
        return None
    if user is None or str(user.session_version) != version or not user.is_active:
        return None
    return user


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """Email and password."""
    if request.method == "POST":
        email = request.form.get("email", "").strip().lower()
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if verify_password(user.password_hash if user else None, request.form.get("password", "")):
            login_user(user)
            return redirect(url_for("core.home"))
        flash(_("The email or password is not right."), "error")
    return render_template("auth/sign_in.html")


@bp.route("/sign-up")
def sign_up():
    return redirect(url_for("auth.sign_in"))


@bp.route("/sign-out", methods=["POST"])
def sign_out():
    logout_user()
    return redirect(url_for("core.home"))
