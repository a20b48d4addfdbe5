"""Export runs end to end: started from the console, made by the in-process job into
local storage and S3, downloaded through the audited route; roles; another tenant's
run; failures; daily schedules."""

from __future__ import annotations

import csv
import io
import time
import urllib.request

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from core.extensions import db
from core.jobs import execute
from core.models import AuditEntry
from core.models import OutboxMessage
from core.models import Role
from core.storage import get_storage
from core.tenancy import Scope
from core.tenancy import cross_tenant
from core.tenancy import tenant_context
from tenants.reporting.models import ExportRun
from tenants.reporting.models import ReportSchedule
from tenants.reporting.models import RunStatus
from tests.tenants.reporting.support import PERIOD
from tests.tenants.reporting.support import SITI_NIK
from tests.tenants.reporting.support import dataset_for


@pytest.fixture
def alpha(app, create_tenant, create_user):
    tenant = create_tenant()
    users = {
        role: create_user(f"{role.value}@{tenant.slug}.test", tenant=tenant, role=role)
        for role in (Role.OWNER, Role.ADMIN, Role.COORDINATOR, Role.CHECKIN)
    }
    dataset_for(tenant, users[Role.ADMIN])
    return tenant, users


def _start(client, tenant, exporter="administered_doses", fmt="csv", **extra):
    return client.post(
        f"/o/{tenant.slug}/reports",
        data={"exporter": exporter, "format": fmt, **PERIOD, **extra},
    )


def _runs(tenant) -> list[ExportRun]:
    """The tenant's runs as they are now, detached (they keep their values)."""
    db.session.rollback()
    with tenant_context(tenant):
        runs = list(db.session.scalars(sa.select(ExportRun).order_by(ExportRun.created_at)))
    for run in runs:
        db.session.expunge(run)
    return runs


def _audit(action: str) -> list[AuditEntry]:
    db.session.rollback()
    with cross_tenant(Scope.PLATFORM):
        return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


def test_export_runs_into_local_storage_and_the_download_is_audited(alpha, client, login):
    tenant, users = alpha
    login(client, users[Role.ADMIN])
    response = _start(client, tenant)
    assert response.status_code == 303
    (run,) = _runs(tenant)
    assert response.location.endswith(f"/reports/runs/{run.id}")
    assert run.status == RunStatus.DONE and run.rows_done == 1 and run.size > 0
    assert run.requested_by_id == users[Role.ADMIN].id
    page = client.get(response.location)
    assert b'http-equiv="refresh"' not in page.data and b"/download" in page.data

    download = client.get(f"/o/{tenant.slug}/reports/runs/{run.id}/download")
    assert download.status_code == 303 and download.headers["Cache-Control"] == "no-store"
    (entry,) = _audit("reporting.export.downloaded")
    assert entry.actor_id == users[Role.ADMIN].id and entry.object_id == str(run.id)
    assert entry.tenant_id == tenant.id
    file = client.get(download.location)
    body = file.data
    file.close()  # a file download holds the file open until closed
    assert file.status_code == 200
    assert "attachment" in file.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "NIK" and rows[1][0] == SITI_NIK and len(rows) == 2


def test_the_file_link_expires(alpha, client, login, monkeypatch):
    tenant, users = alpha
    login(client, users[Role.ADMIN])
    _start(client, tenant, exporter="bookings_schedule")
    (run,) = _runs(tenant)
    link = client.get(f"/o/{tenant.slug}/reports/runs/{run.id}/download").location
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    expired = client.get(link)
    expired.close()
    assert expired.status_code == 403  # core.files: "this download link has expired"


@pytest.fixture
def s3_bucket(app_config, s3_endpoint):
    """Point the app (made after this fixture) at a fresh bucket on moto's server."""
    import boto3

    bucket = f"exports-{time.time_ns()}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    app_config.update(STORAGE_URL=f"s3://{bucket}/sentra", S3_ENDPOINT_URL=s3_endpoint)
    return bucket


def test_export_into_s3_as_xlsx(s3_bucket, alpha, client, login):
    tenant, users = alpha
    login(client, users[Role.OWNER])
    _start(client, tenant, fmt="xlsx")
    (run,) = _runs(tenant)
    assert run.status == RunStatus.DONE
    assert run.storage_key == f"tenants/{tenant.id}/exports/{run.id}.xlsx"
    link = client.get(f"/o/{tenant.slug}/reports/runs/{run.id}/download").location
    assert link.startswith(get_storage().endpoint_url) and "X-Amz-Expires=120" in link
    with urllib.request.urlopen(link, timeout=10) as response:
        body = response.read()
    sheet = load_workbook(io.BytesIO(body), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "NIK" and rows[1][0] == SITI_NIK


def test_roles_decide_who_runs_and_downloads_what(alpha, client, login):
    tenant, users = alpha
    login(client, users[Role.ADMIN])
    _start(client, tenant)
    (doses_run,) = _runs(tenant)
    login(client, users[Role.COORDINATOR])
    # full NIKs: admins and owners only, to start, to see and to download
    assert _start(client, tenant).status_code == 403
    assert client.get(f"/o/{tenant.slug}/reports/runs/{doses_run.id}").status_code == 403
    download = client.get(f"/o/{tenant.slug}/reports/runs/{doses_run.id}/download")
    assert download.status_code == 403
    page = client.get(f"/o/{tenant.slug}/reports")
    assert b"administered_doses" not in page.data and b"bookings_schedule" in page.data
    assert _start(client, tenant, exporter="stock_movements").status_code == 303
    login(client, users[Role.CHECKIN])
    assert client.get(f"/o/{tenant.slug}/reports").status_code == 403
    assert not _audit("reporting.export.downloaded")


def test_another_tenants_run_answers_404(alpha, client, login, create_tenant, create_user):
    tenant, users = alpha
    login(client, users[Role.OWNER])
    _start(client, tenant, exporter="bookings_schedule")
    (run,) = _runs(tenant)
    other = create_tenant()
    login(client, create_user(tenant=other, role=Role.OWNER))
    assert client.get(f"/o/{other.slug}/reports/runs/{run.id}").status_code == 404
    assert client.get(f"/o/{other.slug}/reports/runs/{run.id}/download").status_code == 404


def test_invalid_parameters_are_refused_with_the_field(alpha, client, login):
    tenant, users = alpha
    login(client, users[Role.OWNER])
    response = _start(client, tenant, date_to="2030-01-01")
    assert response.status_code == 422 and b'href="#date_to"' in response.data
    response = _start(client, tenant, exporter="stock_movements", fmt="fhir")
    assert response.status_code == 400 and b"FHIR" in response.data
    assert _runs(tenant) == []


def test_a_failing_export_is_marked_failed_and_the_request_still_succeeds(
    alpha, client, login, monkeypatch
):
    tenant, users = alpha
    login(client, users[Role.OWNER])
    storage = get_storage()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(storage, "put", broken)
    assert _start(client, tenant, exporter="bookings_schedule").status_code == 303
    (run,) = _runs(tenant)
    assert run.status == RunStatus.FAILED and run.error == "OSError" and run.storage_key is None
    assert client.get(f"/o/{tenant.slug}/reports/runs/{run.id}/download").status_code == 303
    assert not _audit("reporting.export.downloaded")


def test_the_export_sorts_with_its_own_work_mem_on_postgresql(
    alpha, app, backend, client, login, monkeypatch
):
    """Sorting a million doses on disk costs a server without parallel workers ~5 s:
    on PostgreSQL the export's transaction (and only it) gets EXPORT_WORK_MEM; SQLite
    has no such setting."""
    from tenants.reporting import services

    app.config["EXPORT_WORK_MEM"] = "48MB"
    seen = []
    write_export = services.write_export

    def spying(exporter, *args, **kwargs):
        on_postgresql = exporter.session.get_bind().dialect.name == "postgresql"
        show = sa.text("SHOW work_mem")
        seen.append(exporter.session.execute(show).scalar() if on_postgresql else None)
        return write_export(exporter, *args, **kwargs)

    monkeypatch.setattr(services, "write_export", spying)
    tenant, users = alpha
    login(client, users[Role.ADMIN])
    assert _start(client, tenant).status_code == 303
    (run,) = _runs(tenant)
    assert run.status == RunStatus.DONE
    if backend == "postgresql":
        assert seen == ["48MB"]
        assert db.session.execute(sa.text("SHOW work_mem")).scalar() != "48MB"
    else:
        assert seen == [None]


def test_a_daily_schedule_mails_members_a_link_once(alpha, client, login, create_user):
    tenant, users = alpha
    tenant_id, slug = tenant.id, tenant.slug
    owner, coordinator = users[Role.OWNER].email, users[Role.COORDINATOR].email
    login(client, users[Role.ADMIN])
    response = client.post(
        f"/o/{slug}/reports/schedules",
        data={
            "exporter": "administered_doses",
            "format": "csv",
            "recipients": f"{owner}, {coordinator}, nobody@x.test",
        },
    )
    assert response.status_code == 303
    for _ in range(2):  # the second run of the day sends nothing more
        # (execute ends the session: the test's objects are detached afterwards)
        execute("tenants.reporting.schedules.enqueue_due_reports", None, "system",
                {"day": "2030-01-07"})  # fmt: skip
    (run,) = _runs(tenant_id)
    assert run.status == RunStatus.DONE and run.rows_done == 1
    assert run.parameters["date_from"] == run.parameters["date_to"] == "2030-01-07"
    with cross_tenant(Scope.SYSTEM):
        mails = list(db.session.scalars(sa.select(OutboxMessage)))
    # the coordinator may not open a doses export, and a stranger is no member
    assert [m.recipient for m in mails] == [owner]
    assert mails[0].context["link"].endswith(f"/o/{slug}/reports/runs/{run.id}")
    assert mails[0].template == "reporting/daily_report"
    assert mails[0].status == "sent"  # rendered and delivered (to .eml files in tests)
    with tenant_context(tenant_id):
        (schedule,) = db.session.scalars(sa.select(ReportSchedule))
        assert str(schedule.last_sent_on) == "2030-01-07"


def test_runs_whose_job_stopped_are_failed_by_the_sweeper(alpha, create_tenant, client, login):
    """rq stops an export job after EXPORT_TIMEOUT and a worker can die mid-way; either
    way the run would say "running" for ever. The periodic sweep fails it (in every
    tenant), and the page says to start again; fresh and finished runs are left alone."""
    import datetime as dt

    from core.db import utcnow
    from tenants.reporting import jobs
    from tenants.reporting.services import EXPORT_TIMEOUT

    tenant, users = alpha
    other = create_tenant()
    now = utcnow()
    long_ago = now - dt.timedelta(seconds=EXPORT_TIMEOUT + 600)
    made = {}
    for owner, label, status, created, started in [
        (tenant, "dead", RunStatus.RUNNING, long_ago, long_ago),
        (tenant, "working", RunStatus.RUNNING, now, now),
        (tenant, "lost", RunStatus.QUEUED, now - dt.timedelta(days=2), None),
        (tenant, "waiting", RunStatus.QUEUED, now, None),
        (tenant, "done", RunStatus.DONE, long_ago, long_ago),
        (other, "dead elsewhere", RunStatus.RUNNING, long_ago, long_ago),
    ]:
        with tenant_context(owner):
            run = ExportRun(
                exporter="administered_doses",
                format="csv",
                parameters={},
                status=status,
                created_at=created,
                started_at=started,
            )
            db.session.add(run)
            db.session.flush()
            made[label] = run.id
    db.session.commit()
    ids, slug, admin = (tenant.id, other.id), tenant.slug, users[Role.ADMIN]

    assert execute("tenants.reporting.jobs.fail_stalled_exports", None, "system", {}) == 3
    status = {run.id: run.status for tid in ids for run in _runs(tid)}
    assert {label for label, i in made.items() if status[i] == RunStatus.FAILED} == {
        "dead",
        "lost",
        "dead elsewhere",
    }
    assert jobs.STALLED_JOB.interval == 900
    login(client, db.session.merge(admin))
    page = client.get(f"/o/{slug}/reports/runs/{made['dead']}")
    assert b"Start it again" in page.data and b'http-equiv="refresh"' not in page.data
