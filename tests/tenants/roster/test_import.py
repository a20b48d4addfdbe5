"""Roster import: CSV and XLSX, headers in either language, a reason for every refused
row, re-import updates by employee number, unreadable files refused with their reason
(that such a file saves nothing is shown through the console in test_views)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from core.extensions import db
from core.tenancy import tenant_context
from tenants.roster.files import RosterFileError
from tenants.roster.files import read_roster_file
from tenants.roster.models import RosterEntry
from tenants.roster.services import import_roster
from tests.tenants.roster.support import NIK_MAN
from tests.tenants.roster.support import NIK_WOMAN
from tests.tenants.roster.support import csv_bytes
from tests.tenants.roster.support import employee_world
from tests.tenants.roster.support import xlsx_bytes

TODAY = dt.date(2030, 1, 1)


def _import(world, filename: str, data: bytes):
    campaign = world.campaign_in_session()
    with force_locale("en"):  # the assertions read the English reasons
        report = import_roster(campaign, read_roster_file(filename, data).rows, today=TODAY)
    db.session.commit()
    return report


def _entries(world) -> dict[str, RosterEntry]:
    return {
        e.employee_number: e
        for e in db.session.scalars(
            sa.select(RosterEntry).where(RosterEntry.campaign_id == world.campaign.id)
        )
    }


def test_csv_rows_are_accepted_or_refused_with_reasons(app):
    tenant, world = employee_world()
    data = csv_bytes(
        [
            ["E001", "Budi Santoso", NIK_MAN, "", "budi@example.test", "2"],
            ["E002", "Sari Dewi", "", "15-06-1985", "", ""],
            ["E003", "No Proof", "", "", "np@example.test", "1"],
            ["E004", "Bad Nik", "1234", "", "", "0"],
            ["E005", "Bad Mail", "", "1980-02-03", "not-an-email", "0"],
            ["E001", "Budi Again", NIK_MAN, "", "", "1"],
            ["E006", "Minus", "", "1980-02-03", "", "-1"],
            ["", "Nameless Number", "", "1980-02-03", "", ""],
            ["E007", "Bad Date", "", "31-02-1980", "", ""],
        ],
        delimiter=";",
    )
    with tenant_context(tenant):
        report = _import(world, "roster.csv", data)
        assert report.counts == {"accepted": 2, "updated": 0, "unchanged": 0, "refused": 7}
        reasons = {r.row: " ".join(r.reasons) for r in report.refused}
        assert "neither a NIK nor a date of birth" in reasons[4]
        assert "does not have 16 digits" in reasons[5]
        assert "email address not-an-email is not valid" in reasons[6]
        assert "appears twice in this file (first in row 2)" in reasons[7]
        assert "cannot be negative" in reasons[8]
        assert "employee number is missing" in reasons[9]
        assert "31-02-1980 is not a date" in reasons[10]
        entries = _entries(world)
        assert set(entries) == {"E001", "E002"}
        budi = entries["E001"]
        # stored encrypted, readable back, never in clear in the row
        assert budi.nik == NIK_MAN and NIK_MAN not in budi.nik_encrypted
        assert budi.email == "budi@example.test" and budi.dependants_allowed == 2
        assert budi.nik_masked == "3171********0001"
        assert entries["E002"].date_of_birth == dt.date(1985, 6, 15)
        assert entries["E002"].nik is None


def test_xlsx_with_indonesian_headers_and_reimport_updates_not_duplicates(app):
    tenant, world = employee_world()
    first = xlsx_bytes(
        [
            ["E001", "Budi Santoso", int(NIK_MAN), None, "budi@example.test", 2],
            ["E002", "Sari Dewi", NIK_WOMAN, dt.datetime(1985, 6, 15), None, 1],
            [1003, "Agus", None, dt.date(1979, 3, 4), None, None],  # a number cell
        ]
    )
    with tenant_context(tenant):
        report = _import(world, "roster.xlsx", first)
        assert report.counts["accepted"] == 3, [r.reasons for r in report.refused]
        again = xlsx_bytes(
            [
                ["E001", "Budi Santoso", int(NIK_MAN), None, "budi@example.test", 2],
                ["E002", "Sari Dewi Lestari", NIK_WOMAN, dt.date(1985, 6, 15), None, 3],
                ["E009", "New Person", None, dt.date(1999, 9, 9), None, 0],
            ]
        )
        ids_before = {n: e.id for n, e in _entries(world).items()}
        report = _import(world, "roster.xlsx", again)
        assert report.counts == {"accepted": 1, "updated": 1, "unchanged": 1, "refused": 0}
        db.session.expire_all()
        entries = _entries(world)
        assert sorted(entries) == ["1003", "E001", "E002", "E009"]
        assert entries["E002"].id == ids_before["E002"]  # updated in place
        assert (entries["E002"].full_name, entries["E002"].dependants_allowed) == (
            "Sari Dewi Lestari",
            3,
        )
        assert entries["E002"].nik == NIK_WOMAN  # still decrypts after the upsert


def test_allowance_cannot_go_below_dependants_already_booked(app):
    tenant, world = employee_world()
    with tenant_context(tenant):
        _import(world, "r.csv", csv_bytes([["E001", "Budi", NIK_MAN, "", "", "3"]]))
        db.session.execute(
            sa.update(RosterEntry).values(dependants_booked=2),
            execution_options={"synchronize_session": False},
        )
        db.session.commit()
        report = _import(world, "r.csv", csv_bytes([["E001", "Budi", NIK_MAN, "", "", "1"]]))
        assert report.counts["refused"] == 1
        assert "2 dependants have booked already" in report.refused[0].reasons[0]
        db.session.expire_all()
        assert _entries(world)["E001"].dependants_allowed == 3


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("r.xlsx", b"PK\x03\x04 this is no zip at all", "roster_unreadable"),
        ("r.xls", b"\xd0\xcf\x11\xe0 old excel", "roster_unreadable"),
        ("r.csv", b"Nama;Email\nBudi;b@example.test\n", "roster_headers"),
        ("r.csv", b"", "roster_empty"),
        ("r.csv", b"\x00\x01\x02\xff\xfe", "roster_unreadable"),
    ],
)
def test_unreadable_files_are_refused_with_their_reason(app, filename, data, code):
    with pytest.raises(RosterFileError) as caught:
        read_roster_file(filename, data)
    assert caught.value.code == code
