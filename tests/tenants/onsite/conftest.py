"""Messages are asserted in English: Indonesian is the default locale, and its
translations change as the catalogue grows. (View tests sign in English-speaking
users; services called directly run under ``force_locale``.)"""

import pytest
from flask_babel import force_locale


@pytest.fixture(autouse=True)
def _english(app):
    with force_locale("en"):
        yield
