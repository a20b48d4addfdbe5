"""The console's roster pages: upload and report, a broken file saves nothing, the list
masks NIKs, invite codes are shown once and stored hashed, priority groups."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.ids import uuid7
from core.models import Role
from core.tenancy import tenant_context
from tenants.roster.models import InviteCode
from tenants.roster.models import PriorityGroup
from tenants.roster.models import RosterEntry
from tenants.roster.services import code_hash
from tests.tenants.roster.support import NIK_MAN
from tests.tenants.roster.support import csv_bytes
from tests.tenants.roster.support import employee_world
from tests.tenants.roster.support import xlsx_bytes


def _signed_in(client, create_user, login, tenant, role=Role.COORDINATOR):
    login(client, create_user(tenant=tenant, role=role))
    client.set_cookie("lang", "en")  # the assertions read English


def _url(tenant, world, path=""):
    return f"/o/{world.tenant_slug}/campaigns/{world.campaign_id}{path}"


def _count(tenant) -> int:
    with tenant_context(tenant):
        n = db.session.scalar(sa.select(sa.func.count()).select_from(RosterEntry))
        db.session.rollback()
    return n


def test_upload_shows_the_report_and_the_list_masks_niks(app, client, create_user, login):
    tenant, world = employee_world()
    _signed_in(client, create_user, login, tenant)
    data = csv_bytes(
        [
            ["E001", "Budi Santoso", NIK_MAN, "", "budi@example.test", "2"],
            ["E002", "Tanpa Bukti", "", "", "", "0"],
        ]
    )
    response = client.post(
        _url(tenant, world, "/roster/import"),
        data={"file": (io.BytesIO(data), "roster.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<dd class="accepted">1</dd>' in page and '<dd class="refused">1</dd>' in page
    assert "neither a NIK nor a date of birth" in page
    listing = client.get(_url(tenant, world, "/roster")).get_data(as_text=True)
    assert "Budi Santoso" in listing and "3171********0001" in listing
    assert NIK_MAN not in listing and "budi@example.test" not in listing
    assert _count(tenant) == 1
    found = client.get(_url(tenant, world, "/roster?q=santo")).get_data(as_text=True)
    missed = client.get(_url(tenant, world, "/roster?q=E00_")).get_data(as_text=True)
    assert "Budi Santoso" in found and "Budi Santoso" not in missed  # "_" is no wildcard


def test_a_broken_file_answers_422_and_saves_nothing(app, client, create_user, login):
    tenant, world = employee_world()
    _signed_in(client, create_user, login, tenant)
    good = xlsx_bytes([["E001", "Budi", NIK_MAN, None, None, 0]])
    broken = good[: len(good) // 2]  # a spreadsheet cut off mid-upload
    response = client.post(
        _url(tenant, world, "/roster/import"),
        data={"file": (io.BytesIO(broken), "roster.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "cannot be opened" in response.get_data(as_text=True)
    assert _count(tenant) == 0


def test_invite_codes_are_shown_once_and_stored_hashed(app, client, create_user, login):
    tenant, world = employee_world()
    _signed_in(client, create_user, login, tenant)
    response = client.post(_url(tenant, world, "/roster/invite-codes"), data={"count": "3"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    codes = re.findall(r"<li><code>([A-Z0-9-]+)</code></li>", page)
    assert len(codes) == 3 and len(set(codes)) == 3
    with tenant_context(tenant):
        stored = set(db.session.scalars(sa.select(InviteCode.code_hash)))
        assert stored == {code_hash(c) for c in codes}
        assert not any(c.replace("-", "") in h for c in codes for h in stored)
        db.session.rollback()
    assert not any(
        c in client.get(_url(tenant, world, "/roster")).get_data(as_text=True) for c in codes
    )


def test_priority_groups_are_added_and_removed(app, client, create_user, login):
    tenant, world = employee_world()
    _signed_in(client, create_user, login, tenant)
    url = _url(tenant, world, "/priority-groups")
    assert client.post(url, data={"name": "", "declaration": ""}).status_code == 422
    response = client.post(
        url,
        data={"name": "Tenaga kesehatan", "declaration": "Saya bekerja di fasilitas kesehatan."},
    )
    assert response.status_code == 302
    assert (
        client.post(url, data={"name": "Tenaga kesehatan", "declaration": "x"}).status_code == 409
    )
    with tenant_context(tenant):
        group_id = db.session.scalar(sa.select(PriorityGroup.id))
        db.session.rollback()
    assert (
        client.post(f"{url}/{group_id}", data={"name": "Nakes", "declaration": "Ya."}).status_code
        == 302
    )
    assert "Nakes" in client.get(url).get_data(as_text=True)
    assert client.post(f"{url}/{group_id}/remove").status_code == 302
    with tenant_context(tenant):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PriorityGroup)) == 0
        db.session.rollback()


def test_a_public_campaign_has_no_roster(app, client, create_user, login):
    tenant, world = employee_world()
    with tenant_context(tenant):
        from tenants.campaigns.models import Audience

        world.campaign_in_session().audience = Audience.PUBLIC
        db.session.commit()
    _signed_in(client, create_user, login, tenant)
    assert client.get(_url(tenant, world, "/roster")).status_code == 404


def test_seed_demo_gives_the_employee_campaign_a_roster(app, runner):
    from core.models import Tenant

    result = runner.invoke(args=["sentra", "seed-demo"])
    assert result.exit_code == 0, result.output
    assert "employee number PMB-1001, date of birth 1990-01-01" in result.output
    company = db.session.scalar(sa.select(Tenant).where(Tenant.slug == "demo-company"))
    with tenant_context(company):
        numbers = set(db.session.scalars(sa.select(RosterEntry.employee_number)))
        db.session.rollback()
    assert numbers == {f"PMB-100{i}" for i in range(1, 6)}
    again = runner.invoke(args=["sentra", "seed-demo"])  # re-running duplicates nothing
    assert again.exit_code == 0, again.output
    with tenant_context(company):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RosterEntry)) == 5
        db.session.rollback()


@pytest.fixture
def big_files_by_job(app_config):
    app_config["ROSTER_INLINE_MAX_BYTES"] = 100  # every test file counts as big


def test_a_big_file_is_imported_by_a_job_and_its_report_shown(
    big_files_by_job, app, client, create_user, login
):
    tenant, world = employee_world()
    _signed_in(client, create_user, login, tenant)
    rows = [[f"E{i:03d}", f"Karyawan {i}", "", "1990-01-01", "", "1"] for i in range(40)]
    rows.append(["E999", "Tanpa Bukti", "", "", "", ""])
    response = client.post(
        _url(tenant, world, "/roster/import"),
        data={"file": (io.BytesIO(csv_bytes(rows)), "roster.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    status = client.get(response.location)  # the job ran in-process after the commit
    page = status.get_data(as_text=True)
    assert status.status_code == 200
    assert '<dd class="accepted">40</dd>' in page and '<dd class="refused">1</dd>' in page
    assert "neither a NIK nor a date of birth" in page
    assert _count(tenant) == 40
    broken = client.post(
        _url(tenant, world, "/roster/import"),
        data={"file": (io.BytesIO(b"PK\x03\x04" + b"x" * 200), "roster.xlsx")},
        content_type="multipart/form-data",
    )
    failed = client.get(broken.location)
    assert failed.status_code == 422 and "cannot be opened" in failed.get_data(as_text=True)
    assert _count(tenant) == 40
    unknown = _url(tenant, world, f"/roster/imports/{uuid7()}")
    assert "Importing" in client.get(unknown).get_data(as_text=True)  # not (yet) there
