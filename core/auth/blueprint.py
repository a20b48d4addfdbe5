"""The auth blueprint with all its pages: the app registers ``bp`` from here.

``bp`` is made in ``core.auth.web``; each page module adds its routes to it when it
is imported, so this module imports them all before anyone can register ``bp``.
"""

from core.auth import account_views  # noqa: F401 (adds its pages to bp)
from core.auth import two_factor_views  # noqa: F401 (adds its pages to bp)
from core.auth import views  # noqa: F401 (adds its pages to bp)
from core.auth.web import bp

__all__ = ["bp"]
