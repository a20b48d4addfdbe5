"""The application factory.

No database queries, network calls or migrations happen here or at import time:
migrations are a deploy step (`flask db upgrade`), and connections open lazily on
first use.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from flask import current_app
from flask import g
from flask import has_request_context
from flask import request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.utils import import_string

from core import config as settings
from core.errors import register_error_handlers
from core.extensions import babel
from core.extensions import csrf
from core.extensions import db
from core.extensions import limiter
from core.extensions import login_manager
from core.extensions import migrate
from core.logs import configure_logging

#: Blueprints of every package, as "module:attribute". core imports no feature package;
#: this list is the one place the app learns they exist.
BLUEPRINTS = [
    "core.views:bp",
    "core.auth.blueprint:bp",
    "core.files:bp",
    "tenants.console.views:bp",
    "tenants.api.api:bp",
    "tenants.api.views:bp",
    "tenants.billing.views:bp",
    "tenants.billing.views:webhook_bp",
    "onboarding.signup.views:bp",
    "onboarding.team.views:bp",
    "onboarding.team.views:accept_bp",
    "onboarding.admin.views:bp",
    "onboarding.venues.views:bp",
    "onboarding.review.views:bp",
    "tenants.stock.views:bp",
    "tenants.campaigns.views:bp",
    "tenants.vouchers.views:bp",
    "tenants.roster.views:bp",
    "tenants.roster.public:bp",
    "tenants.public.views:bp",
    "tenants.public.views:static_bp",
    "tenants.onsite.views:bp",
    "tenants.onsite.views:static_bp",
    "tenants.reporting.views:bp",
    "tenants.reporting.review:bp",
]

#: Modules whose import registers models, signal receivers and CLI commands.
MODEL_MODULES = [
    "core.models",
    "core.api.models",
    "onboarding.venues.models",
    "onboarding.venues.cli",
    "tenants.billing.models",
    "tenants.billing.receivers",
    "tenants.billing.jobs",
    "tenants.stock.models",
    "tenants.campaigns.models",
    "tenants.booking.models",
    "tenants.booking.cli",
    "tenants.booking.jobs",
    "tenants.vouchers.receivers",
    "tenants.vouchers.jobs",
    "tenants.roster.models",
    "tenants.roster.cli",
    "tenants.roster.receivers",
    "onboarding.signup.models",
    "onboarding.team.models",
    "tenants.onsite.models",
    "tenants.onsite.cli",
    "tenants.reporting.models",
    "tenants.reporting.jobs",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict | None = None) -> Flask:
    """Build the app. ``config`` overrides settings read from the environment (tests)."""
    instance_path = Path(os.environ.get("SENTRA_INSTANCE_PATH", PROJECT_ROOT / "instance"))
    app = Flask("core", instance_path=str(instance_path))
    values = settings.from_env(instance_path)
    if config:
        values.update(config)
    app.config.update({**settings.flask_defaults(values), **values})
    settings.validate(app.config)

    configure_logging(app)
    if app.config["TRUSTED_PROXY_COUNT"]:
        # The client's address and scheme as the proxies saw them (rate limits, audit).
        hops = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    import_models()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), compare_type=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    register_error_handlers(app)

    for spec in BLUEPRINTS:
        app.register_blueprint(import_string(spec))

    from core.cli import sentra

    app.cli.add_command(sentra)

    @app.context_processor
    def template_globals():
        return {
            "tenant": g.get("tenant"),
            "membership": g.get("membership"),
            "locale": str(select_locale()),
        }

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # No third-party origins at all: no CDN, fonts or analytics.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
            "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
        )
        return response

    @app.after_request
    def commit_unit_of_work(response):
        # Commit once, at the edge. Error responses never commit: handlers rolled back.
        if response.status_code < 400:
            db.session.commit()
        else:
            db.session.rollback()
        return response

    return app


def import_models() -> None:
    """Import every model module so metadata (and Alembic autogenerate) sees all tables."""
    for module in MODEL_MODULES:
        import_string(module)


def select_locale() -> str:
    """Public pages default to Indonesian; a signed-in user's choice wins; ?lang= switches.

    Outside a request (jobs, CLI) the default applies; mail sets its locale explicitly.
    The default is ``BABEL_DEFAULT_LOCALE`` ("id"; the test suite reads English, the
    source language, and checks Indonesian where it asks for it).
    """
    supported = ("id", "en")
    default = current_app.config.get("BABEL_DEFAULT_LOCALE") or "id"
    if not has_request_context():
        return default
    if (lang := request.args.get("lang")) in supported:
        g.locale_choice = lang
        return lang
    if (lang := request.cookies.get("lang")) in supported:
        return lang
    if current_user and current_user.is_authenticated and current_user.locale in supported:
        return current_user.locale
    return default
