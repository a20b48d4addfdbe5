"""Each exporter's header and rows on the small dataset; CSV and XLSX read back; the
FHIR bundle validates as a whole."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
import sqlalchemy as sa
from fhir.resources.R4B.bundle import Bundle
from flask_babel import force_locale
from openpyxl import load_workbook

from core.extensions import db
from core.tenancy import UnscopedQueryError
from core.tenancy import tenant_context
from tenants.reporting.exporters import EXPORTERS
from tenants.reporting.exporters.doses import AdministeredDoses
from tenants.reporting.exporters.schedule import BookingsSchedule
from tenants.reporting.exporters.stock import StockMovements
from tenants.reporting.fhir import NIK_SYSTEM
from tenants.reporting.fhir import write_fhir
from tenants.reporting.writers import safe_cell
from tenants.reporting.writers import write_csv
from tenants.reporting.writers import write_xlsx
from tests.tenants.ledger_support import make_tenant
from tests.tenants.reporting.support import PERIOD
from tests.tenants.reporting.support import SITI_NIK
from tests.tenants.reporting.support import dataset_for


@pytest.fixture
def data(app, create_user):
    tenant = make_tenant()
    vaccinator = create_user(name="Dr. Vaksin")
    dataset = dataset_for(tenant, vaccinator)
    other = make_tenant()  # another tenant's doses must never appear
    dataset_for(other, vaccinator)
    with tenant_context(tenant):
        yield dataset


def _rows(cls, **params):
    """The exporter's rows, headers in English (exports run in the default, Indonesian)."""
    exporter = cls(db.session, cls.parameters().load({**PERIOD, **params}))
    with force_locale("en"):
        return list(exporter.rows())


def test_administered_doses_has_the_ministry_fields_and_leaves_voided_doses_out(data):
    header, *rows = _rows(AdministeredDoses)
    assert header == [
        "NIK", "Name", "Sex", "Date of birth", "Age", "Occupation", "Address", "Phone",
        "Vaccine", "Manufacturer", "Batch", "Dose number", "Date", "Time (UTC)", "Venue",
        "Province", "City", "Vaccinator", "Screening outcome", "Adverse events",
    ]  # fmt: skip
    assert len(rows) == 1  # Andi's dose was voided; Budi did not come
    (row,) = rows
    assert row == (
        SITI_NIK, "Siti Rahayu", "female", "1990-01-01", 40, "Guru", "Jl. Melati 5, Jakarta",
        "+6281234567890", data.world.product.name, "Test Pharma", "LOT-A", 1, "2030-01-07",
        "2030-01-07T03:00:00+00:00", "Venue 1", "DKI Jakarta", "Jakarta Selatan", "Dr. Vaksin",
        "vaccinate", "mild: pain at the injection site",
    )  # fmt: skip


def test_the_rows_are_the_doses_as_python_would_write_them(data):
    """records() (text made by the database, the CSV/XLSX path) and doses() (typed values,
    the FHIR path) read the same statement's FROM and WHERE; they must agree."""
    params = AdministeredDoses.parameters().load({**PERIOD, "date_from": "2030-01-01"})
    exporter = AdministeredDoses(db.session, params)
    expected = [
        (
            d.nik, d.full_name, d.sex, d.date_of_birth.isoformat(),
            d.day.year - d.date_of_birth.year
            - ((d.day.month, d.day.day) < (d.date_of_birth.month, d.date_of_birth.day)),
            d.occupation, d.address, d.phone, d.vaccine, d.manufacturer, d.batch_number,
            d.dose_number, d.day.isoformat(),
            d.administered_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
            d.venue_name, d.province, d.city, d.vaccinator, d.screening, d.adverse_events,
        )
        for d in exporter.doses()
    ]  # fmt: skip
    assert expected  # Siti's dose
    assert list(exporter.records()) == expected


def test_an_export_outside_a_tenant_context_reads_nothing(app):
    exporter = AdministeredDoses(db.session, AdministeredDoses.parameters().load(PERIOD))
    with pytest.raises(UnscopedQueryError):
        list(exporter.records())


def test_filters_by_period_venue_and_campaign(data):
    assert len(_rows(AdministeredDoses, date_from="2030-01-08")) == 1  # header only
    assert len(_rows(StockMovements)) == 3  # header and the two doses given in 2030
    assert len(_rows(AdministeredDoses, venue_id=str(data.world.venues[1].id))) == 1
    campaign = str(data.world.campaign.id)
    assert len(_rows(AdministeredDoses, campaign_id=campaign)) == 2


def test_bookings_schedule_per_venue_and_day(data):
    header, *rows = _rows(BookingsSchedule)
    assert header[:5] == ["Campaign", "Venue", "Province", "Date", "Slots"]
    by_key = {(r[1], r[3]): r for r in rows}
    day_one = by_key[("Venue 1", "2030-01-07")]
    # 2 one-hour slots of 2 seats; Siti's seat taken (vaccinated), Budi's released (no-show);
    # 2 walk-in places, 1 used by Andi (arrived again after the void)
    assert day_one[4:] == (2, 4, 1, 2, 1, 0, 1, 1, 1, 0)
    # Siti's second dose, booked automatically two days later
    assert by_key[("Venue 1", "2030-01-09")][9] == 1
    assert len(rows) == 10  # 2 venues x 5 days


def test_stock_movements_per_lot(data):
    # A movement is dated when it happened: the doses when they were given (the ``now``
    # the ledger was told, 7 January 2030); the lot's receipt and the void, recorded
    # without one, today.
    venue = str(data.world.venues[0].id)
    header, *given = _rows(StockMovements, venue_id=venue)
    assert header[:4] == ["Venue", "Vaccine", "Batch", "Expiry date"]
    assert [(r[6], r[7]) for r in given] == [("administered", -1), ("administered", -1)]
    assert given[0][2:4] == ("LOT-A", "2031-06-30")
    assert sorted(r[9] for r in given) == ["", "Dr. Vaksin"]  # Andi's dose had none
    today = dt.date.today()
    around_today = {
        "date_from": str(today - dt.timedelta(days=1)),
        "date_to": str(today + dt.timedelta(days=1)),
    }
    _, *recorded = _rows(StockMovements, venue_id=venue, **around_today)
    assert [(r[6], r[7]) for r in recorded] == [("received", 10), ("void_administration", 1)]
    assert recorded[1][8] == "wrong person"


def test_csv_and_xlsx_read_back(data):
    rows = _rows(AdministeredDoses)
    out = io.BytesIO()
    write_csv(iter(rows), out)
    parsed = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert parsed[0] == rows[0] and parsed[1][0] == SITI_NIK and parsed[1][4] == "40"
    out = io.BytesIO()
    progress = []
    write_xlsx(iter(rows), out, progress.append)
    sheet = load_workbook(io.BytesIO(out.getvalue()), read_only=True).active
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0] == rows[0] and cells[1][0] == SITI_NIK and cells[1][4] == 40
    assert progress == [1]


def test_a_formula_typed_as_a_name_stays_text():
    assert safe_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("+6281234567890") == "+6281234567890"  # a phone number is data
    assert safe_cell(-1) == -1 and safe_cell("Siti") == "Siti"


def test_fhir_bundle_validates_and_carries_the_nik(data):
    exporter = AdministeredDoses(db.session, AdministeredDoses.parameters().load(PERIOD))
    out = io.BytesIO()
    write_fhir(exporter, out)
    document = json.loads(out.getvalue())
    bundle = Bundle.model_validate(document)
    assert bundle.type == "collection"
    kinds = [e["resource"]["resourceType"] for e in document["entry"]]
    assert kinds == ["Patient", "Immunization"]
    patient, immunization = (e["resource"] for e in document["entry"])
    assert patient["identifier"][0] == {"use": "official", "system": NIK_SYSTEM, "value": SITI_NIK}
    assert patient["gender"] == "female" and patient["birthDate"] == "1990-01-01"
    assert immunization["patient"]["reference"] == document["entry"][0]["fullUrl"]
    assert immunization["lotNumber"] == "LOT-A"
    assert immunization["protocolApplied"] == [{"doseNumberPositiveInt": 1}]
    assert immunization["performer"][0]["actor"]["display"] == "Dr. Vaksin"
    assert immunization["location"]["display"] == "Venue 1"
    assert immunization["occurrenceDateTime"].startswith("2030-01-07T03:00:00")


def test_every_exporter_names_its_parameters_and_formats():
    for identifier, cls in EXPORTERS.items():
        assert cls.identifier == identifier and set(cls.formats) >= {"csv", "xlsx"}
        assert {"date_from", "date_to"} <= set(cls.parameters().fields)


def test_employee_participation_counts_roster_booked_and_vaccinated(data):
    from tenants.booking.models import Booking
    from tenants.booking.models import BookingStatus
    from tenants.reporting.exporters.participation import EmployeeParticipation
    from tenants.roster.models import RosterBooking
    from tenants.roster.models import RosterEntry

    campaign_id = data.world.campaign.id

    def entry(number, born):
        row = RosterEntry(campaign_id=campaign_id, employee_number=number,
                          full_name=f"Employee {number}", date_of_birth=born)  # fmt: skip
        db.session.add(row)
        db.session.flush()
        return row.id

    def booking_of(person_id):
        return db.session.scalar(
            sa.select(Booking.id).where(Booking.person_id == person_id, Booking.dose_number == 1)
        )

    siti, budi, boss = (entry(n, dt.date(1980, 1, 1)) for n in ("E1", "E2", "E3"))
    guest = db.session.scalar(
        sa.select(Booking).where(Booking.status == BookingStatus.BOOKED, Booking.dose_number == 1)
    )
    db.session.add_all([
        RosterBooking(campaign_id=campaign_id, booking_id=booking_of(data.siti.id), entry_id=siti),
        RosterBooking(campaign_id=campaign_id, booking_id=booking_of(data.budi.id), entry_id=budi),
        RosterBooking(campaign_id=campaign_id, booking_id=guest.id, entry_id=boss, dependant=True),
    ])  # fmt: skip
    db.session.flush()
    header, *rows = _rows(EmployeeParticipation)
    assert header[0] == "Campaign" and len(header) == 6
    # 3 on the roster; Siti booked and vaccinated; Budi's booking ended as a no-show;
    # the boss's dependant is booked, not yet vaccinated
    assert rows == [("Test campaign", 3, 1, 1, 1, 0)]
    assert _rows(EmployeeParticipation, date_from="2031-01-01", date_to="2031-01-02") == [header]
