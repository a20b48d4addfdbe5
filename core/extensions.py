"""Flask extensions, created unbound here and bound in :func:`core.app.create_app`."""

from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy import inspect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base with constraint names fixed, so migrations name them alike everywhere."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class TenantSession(FlaskSession):
    """The session class: ``get()`` never hands out another tenant's row.

    ``get()`` answers from the identity map without SQL, so neither the ORM criteria
    nor row-level security sees it; an object loaded under another scope (a reviewer's
    cross-tenant read, an earlier tenant in the same job) must not come back from a
    ``get()`` made inside a tenant's context.
    """

    def get(self, entity, ident, **kwargs):
        obj = super().get(entity, ident, **kwargs)
        tenant_id = self.info.get("tenant_id")
        # The tenant is read from the identity key: touching an expired attribute would
        # reload the row under the current scope.
        if (
            obj is not None
            and tenant_id is not None
            and getattr(obj, "__tenant_owned__", False)
            and inspect(obj).identity[0] != tenant_id
        ):
            return None
        return obj


db = SQLAlchemy(model_class=Base, session_options={"class_": TenantSession})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# Storage comes from RATELIMIT_STORAGE_URI: memory by default, Redis when configured.
limiter = Limiter(key_func=get_remote_address)
