"""The message catalogues: Bahasa Indonesia complete and current, English by a visible switch.

The catalogue checks read files only (no app, no database): every msgid the code uses is
in the Indonesian catalogue, translated, never fuzzy, with the same placeholders, and the
compiled ``.mo`` that Flask-Babel loads says the same as the ``.po``. The page checks
render the pages a visitor or an organiser opens first and look for catalogue English
left on an Indonesian page (and the other way round).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from markupsafe import escape

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "core" / "translations"
SOURCES = ("core", "onboarding", "tenants")
#: printf conversions as Python's % operator reads them (Jinja's newstyle gettext always
#: formats, so a stray % in a translation breaks the page).
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]")


def catalogue_path(locale: str, ext: str = "po") -> Path:
    return CATALOGUES / locale / "LC_MESSAGES" / f"messages.{ext}"


@cache
def catalogue(locale: str):
    with catalogue_path(locale).open("rb") as fileobj:
        return read_po(fileobj, locale=locale)


@cache
def code_messages() -> dict[tuple[str, str | None], tuple[str, ...]]:
    """(msgid, context) -> every form, extracted as `make messages` does (same babel.cfg)."""
    with (ROOT / "babel.cfg").open() as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj, "babel.cfg")
    found: dict[tuple[str, str | None], tuple[str, ...]] = {}
    for source in SOURCES:
        for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT / source, method_map, options_map
        ):
            forms = (message,) if isinstance(message, str) else tuple(message)
            if not forms[0]:
                pytest.fail(f"{source}/{filename}:{lineno}: an empty msgid (gettext(''))")
            found[(forms[0], context)] = forms
    return found


def ids_and_strings(message) -> tuple[tuple[str, ...], tuple[str, ...]]:
    ids = (message.id,) if isinstance(message.id, str) else tuple(message.id)
    strings = (message.string,) if isinstance(message.string, str) else tuple(message.string)
    return ids, strings


def test_every_msgid_in_the_code_is_in_the_indonesian_catalogue():
    po = catalogue("id")
    missing = sorted(msgid for msgid, context in code_messages() if po.get(msgid, context) is None)
    assert not missing, (
        f"{len(missing)} msgid(s) in the code are not in the id catalogue; run `make messages`, "
        "translate them in core/translations/id/LC_MESSAGES/messages.po, then "
        "`make translations` (docs/translations.md):\n  " + "\n  ".join(missing)
    )
    plural_changed = [
        msgid
        for (msgid, context), forms in code_messages().items()
        if len(forms) > 1 and ids_and_strings(po.get(msgid, context))[0] != forms[:2]
    ]
    assert not plural_changed, f"plural forms differ from the code: {plural_changed}"


@pytest.mark.parametrize("locale", ["id", "en"])
def test_catalogue_has_no_fuzzy_entries_and_keeps_every_placeholder(locale):
    po = catalogue(locale)
    assert not po.fuzzy, f"the {locale} catalogue header is marked fuzzy: it would not compile"
    fuzzy = [message.id for message in po if message.id and message.fuzzy]
    assert not fuzzy, f"fuzzy entries are never compiled; translate and unflag them: {fuzzy}"
    broken = []
    for message in po:
        if not message.id:
            continue
        ids, strings = ids_and_strings(message)
        expected = {p for msgid in ids for p in PLACEHOLDER.findall(msgid)}
        for string in strings:
            if string and set(PLACEHOLDER.findall(string)) != expected:
                broken.append((ids[0], string))
    assert not broken, f"placeholders differ between msgid and msgstr: {broken}"


def test_indonesian_catalogue_translates_everything():
    po = catalogue("id")
    assert po.num_plurals == 1, "Indonesian has one plural form (nplurals=1; plural=0)"
    untranslated = [
        message.id for message in po if message.id and not all(ids_and_strings(message)[1])
    ]
    assert not untranslated, (
        f"{len(untranslated)} untranslated entries in the id catalogue: {untranslated}"
    )
    # The test must be able to fail: a real catalogue has hundreds of entries.
    assert len(po) > 500


@pytest.mark.parametrize("locale", ["id", "en"])
def test_compiled_catalogue_matches_its_source(locale):
    mo_path = catalogue_path(locale, "mo")
    assert mo_path.exists(), f"{mo_path} is missing: run `make translations`"
    with mo_path.open("rb") as fileobj:
        compiled = {
            (ids_and_strings(m)[0], m.context): ids_and_strings(m)[1]
            for m in read_mo(fileobj)
            if m.id
        }
    stale = []
    for message in catalogue(locale):
        ids, strings = ids_and_strings(message)
        if message.id and all(strings) and compiled.get((ids, message.context)) != strings:
            stale.append(ids[0])
    assert not stale, f"{mo_path} is older than its .po: run `make translations` ({stale[:5]})"


# --- pages ---------------------------------------------------------------------------------


#: Catalogue phrases long enough that finding one on a page means it was not translated.
def phrases(locale_of_text: str) -> list[str]:
    found = []
    for message in catalogue("id"):
        if not message.id or not isinstance(message.id, str) or "%" in message.id:
            continue
        english, indonesian = message.id, message.string
        if english == indonesian or " " not in english or len(english) < 8:
            continue
        found.append(english if locale_of_text == "en" else indonesian)
    return found


def leftovers(html: str, locale_of_text: str) -> list[str]:
    return [p for p in phrases(locale_of_text) if str(escape(p)) in html or p in html]


def translated(msgid: str) -> str:
    return catalogue("id")[msgid].string


def html_pages(client, rules) -> dict[str, str]:
    pages = {}
    for url in rules:
        response = client.get(url)
        if response.status_code == 200 and response.mimetype == "text/html":
            pages[url] = response.get_data(as_text=True)
        response.close()  # files (a service worker, downloads) stream from open handles
    return pages


def page_urls(app, tenant_slug: str) -> tuple[list[str], list[str]]:
    """GET pages without ids: (public ones, the tenant console's ones)."""
    public, console = [], []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/api/", "/static")):
            continue
        if not rule.arguments:
            public.append(rule.rule)
        elif rule.arguments == {"tenant_slug"}:
            url = rule.rule.replace("<tenant_slug>", tenant_slug)
            (console if rule.rule.startswith("/o/") else public).append(url)
    return sorted(public), sorted(console)


def test_pages_are_in_indonesian_by_default_and_english_by_the_switch(
    app, client, create_tenant, create_user, login, indonesian_by_default
):
    tenant = create_tenant("klinik-bahasa", name="Klinik Bahasa")
    public, console = page_urls(app, tenant.slug)
    assert {"/", "/sign-in"} <= set(public)

    anonymous = html_pages(client, public)
    assert {"/", "/sign-in"} <= set(anonymous)
    for url, html in anonymous.items():
        assert '<html lang="id">' in html, url
        assert translated("Skip to content") in html, url
        assert not leftovers(html, "en"), (url, leftovers(html, "en"))
    assert translated("Forgot your password?") in anonymous["/sign-in"]

    # The visible switch: a link on every page, remembered in a cookie without JavaScript.
    assert 'href="?lang=en"' in anonymous["/sign-in"]
    english = client.get("/sign-in?lang=en")
    assert "lang=en" in english.headers["Set-Cookie"]
    for url, html in html_pages(client, public).items():  # no ?lang= now: the cookie decides
        assert '<html lang="en">' in html, url
        assert "Skip to content" in html, url
        assert not leftovers(html, "id"), (url, leftovers(html, "id"))
    client.get("/?lang=id")
    assert translated("Forgot your password?") in client.get("/sign-in").text

    # An organiser's console, in the language saved on their account when no cookie says.
    client.delete_cookie("lang")
    owner = create_user(tenant=tenant, locale="id")
    login(client, owner)
    pages = html_pages(client, console)
    assert f"/o/{tenant.slug}/" in pages
    for url, html in pages.items():
        assert not leftovers(html, "en"), (url, leftovers(html, "en"))
    client.post("/account/language", data={"locale": "en"})
    client.delete_cookie("lang")
    dashboard = client.get(f"/o/{tenant.slug}/").text
    assert '<html lang="en">' in dashboard
    assert not leftovers(dashboard, "id")


@pytest.fixture
def no_fill_time(app_config):
    app_config["PUBLIC_BOOKING_MIN_FILL_SECONDS"] = 0  # tests fill forms faster than people
    return app_config


def walk_booking_pages(client, world, nik: str) -> dict[str, str]:
    """Every step of the public booking flow, as a visitor without JavaScript sees it."""
    from tests.tenants.public.support import base
    from tests.tenants.public.support import choose_slot
    from tests.tenants.public.support import fill_details

    venue = f"{base(world)}/venue/{world.venue_ids[0]}"
    urls = [f"/b/{world.tenant_slug}", base(world), venue, f"{venue}/2030-01-07"]
    pages = {url: client.get(url) for url in urls}
    choose_slot(client, world)
    pages["details"] = client.get(f"{base(world)}/details")
    assert fill_details(client, world, nik=nik).status_code == 302
    pages["review"] = client.get(f"{base(world)}/review")
    done = client.post(f"{base(world)}/confirm")
    assert done.status_code == 302, done.get_data(as_text=True)
    pages["done"] = client.get(done.headers["Location"])
    for step, response in pages.items():
        assert response.status_code == 200, step
    return {step: response.get_data(as_text=True) for step, response in pages.items()}


def test_every_booking_step_is_in_the_visitors_language(
    no_fill_time, app, client, indonesian_by_default
):
    from tests.tenants.public.support import public_world

    _tenant, world = public_world()
    for step, html in walk_booking_pages(client, world, "3171014101900001").items():
        assert '<html lang="id">' in html, step
        assert not leftovers(html, "en"), (step, leftovers(html, "en"))
    client.delete_cookie("sentra")  # another visitor, who switched to English
    client.get(f"/b/{world.tenant_slug}?lang=en")
    for step, html in walk_booking_pages(client, world, "3171014101900002").items():
        assert '<html lang="en">' in html, step
        assert not leftovers(html, "id"), (step, leftovers(html, "id"))
