"""Messages are asserted in English: Indonesian is the default locale, and its
translations change as the catalogue grows. (View tests sign in English-speaking
users; services called directly run under ``force_locale``.)"""

import pytest
from flask_babel import force_locale


@pytest.fixture(autouse=True)
def _english(request):
    # The PostgreSQL concurrency tests bring their own app (pg_app); the others use
    # the suite's app, on both databases.
    if "pg_app" not in request.fixturenames:
        request.getfixturevalue("app")
    with force_locale("en"):
        yield
