"""Validation of the venue form and the document upload form.

The venue form works without JavaScript: opening hours are two time fields per
weekday (``hours-<d>-open`` and ``hours-<d>-close``, 0 = Monday), folded here into
``{"0": [["08:00", "16:00"]], ...}``.
"""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import pre_load
from marshmallow import validate
from marshmallow import validates_schema

from core.schemas import FormSchema
from onboarding.venues.models import DocumentKind

#: Indonesia's 38 provinces (2022), as written by the Ministry of Home Affairs.
PROVINCES = (
    "Aceh",
    "Sumatera Utara",
    "Sumatera Barat",
    "Riau",
    "Kepulauan Riau",
    "Jambi",
    "Bengkulu",
    "Sumatera Selatan",
    "Kepulauan Bangka Belitung",
    "Lampung",
    "Banten",
    "DKI Jakarta",
    "Jawa Barat",
    "Jawa Tengah",
    "DI Yogyakarta",
    "Jawa Timur",
    "Bali",
    "Nusa Tenggara Barat",
    "Nusa Tenggara Timur",
    "Kalimantan Barat",
    "Kalimantan Tengah",
    "Kalimantan Selatan",
    "Kalimantan Timur",
    "Kalimantan Utara",
    "Sulawesi Utara",
    "Gorontalo",
    "Sulawesi Tengah",
    "Sulawesi Barat",
    "Sulawesi Selatan",
    "Sulawesi Tenggara",
    "Maluku",
    "Maluku Utara",
    "Papua",
    "Papua Barat",
    "Papua Barat Daya",
    "Papua Selatan",
    "Papua Tengah",
    "Papua Pegunungan",
)

#: Indonesia's time zones: WIB, WITA, WIT.
TIMEZONES = ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")

#: a generous box around Indonesia (Sabang to Merauke, Miangas to Rote)
LATITUDE_RANGE = (Decimal("-11.5"), Decimal("6.5"))
LONGITUDE_RANGE = (Decimal("94.5"), Decimal("141.5"))

WEEKDAYS = (
    _l("Monday"),
    _l("Tuesday"),
    _l("Wednesday"),
    _l("Thursday"),
    _l("Friday"),
    _l("Saturday"),
    _l("Sunday"),
)

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def hours_from_form(form) -> tuple[dict, dict]:
    """Fold the per-weekday time fields into opening hours; return (hours, errors by day)."""
    hours: dict[str, list[list[str]]] = {}
    errors: dict[str, str] = {}
    for day in range(7):
        start = (form.get(f"hours-{day}-open") or "").strip()[:5]
        end = (form.get(f"hours-{day}-close") or "").strip()[:5]
        if not start and not end:
            continue
        if not (start and end):
            errors[str(day)] = str(_l("Give both the opening and the closing time, or neither."))
        elif not (_TIME.match(start) and _TIME.match(end)):
            errors[str(day)] = str(_l("Write times as HH:MM, for example 08:00."))
        elif start >= end:
            errors[str(day)] = str(_l("The closing time must be after the opening time."))
        else:
            hours[str(day)] = [[start, end]]
    return hours, errors


def hours_to_form(hours: dict | None) -> dict:
    """The form fields for stored opening hours (the first interval of each day)."""
    values = {}
    for day, intervals in (hours or {}).items():
        if intervals:
            values[f"hours-{day}-open"], values[f"hours-{day}-close"] = intervals[0]
    return values


def _blank_to_none(data: dict, *names: str) -> dict:
    for name in names:
        if isinstance(data.get(name), str) and not data[name].strip():
            data[name] = None
    return data


class VenueSchema(FormSchema):
    """A venue's details as a tenant admin enters them."""

    name = fields.String(required=True, validate=validate.Length(min=2, max=200))
    address = fields.String(required=True, validate=validate.Length(min=5, max=2000))
    province = fields.String(
        required=True,
        validate=validate.OneOf(PROVINCES, error=_l("Choose a province from the list.")),
    )
    city = fields.String(required=True, validate=validate.Length(min=2, max=100))
    district = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=100))
    latitude = fields.Decimal(load_default=None, allow_none=True, places=6)
    longitude = fields.Decimal(load_default=None, allow_none=True, places=6)
    timezone = fields.String(load_default="Asia/Jakarta", validate=validate.OneOf(TIMEZONES))
    stations = fields.Integer(
        required=True,
        strict=False,
        validate=validate.Range(
            min=1, max=100, error=_l("Give a number of stations from 1 to 100.")
        ),
    )
    visitor_notes = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=2000)
    )
    opening_hours = fields.Dict(load_default=dict)

    @pre_load
    def _clean(self, data, **kwargs):
        data = {k: (v.strip() if isinstance(v, str) else v) for k, v in dict(data).items()}
        for name in ("latitude", "longitude"):
            if isinstance(data.get(name), str):
                data[name] = data[name].replace(",", ".")
        return _blank_to_none(data, "district", "latitude", "longitude", "visitor_notes")

    @validates_schema
    def _check_coordinates(self, data, **kwargs):
        lat, lon = data.get("latitude"), data.get("longitude")
        if (lat is None) != (lon is None):
            raise ValidationError(
                str(_l("Give both latitude and longitude, or leave both empty.")), "latitude"
            )
        if lat is None:
            return
        if not LATITUDE_RANGE[0] <= lat <= LATITUDE_RANGE[1]:
            raise ValidationError(
                str(_l("The latitude must be between -11.5 and 6.5 (Indonesia).")), "latitude"
            )
        if not LONGITUDE_RANGE[0] <= lon <= LONGITUDE_RANGE[1]:
            raise ValidationError(
                str(_l("The longitude must be between 94.5 and 141.5 (Indonesia).")),
                "longitude",
            )


def load_venue_form(form) -> tuple[dict, dict]:
    """Validate the venue form; return (data, errors by field name)."""
    hours, hour_errors = hours_from_form(form)
    raw = {key: form.get(key) for key in VenueSchema().fields if key in form}
    raw["opening_hours"] = hours
    try:
        data = VenueSchema().load(raw)
        errors: dict = {}
    except ValidationError as exc:
        data, errors = {}, {k: v[0] if isinstance(v, list) else v for k, v in exc.messages.items()}
    for day, message in hour_errors.items():
        errors[f"hours-{day}"] = message
    return data, errors


class DocumentUploadSchema(FormSchema):
    """The kind of document being uploaded (the file itself is checked in uploads.py)."""

    kind = fields.Enum(
        DocumentKind,
        by_value=True,
        required=True,
        error_messages={"unknown": _l("Choose what this document is.")},
    )


#: what each kind of document may be: photos are images, the permit letter is a PDF
ACCEPT_BY_KIND = {
    DocumentKind.PHOTO_ENTRANCE: "image",
    DocumentKind.PHOTO_VACCINATION_AREA: "image",
    DocumentKind.PERMIT_LETTER: "pdf",
    DocumentKind.OTHER: "any",
}

DOCUMENT_LABELS = {
    DocumentKind.PHOTO_ENTRANCE: _l("Photo of the entrance"),
    DocumentKind.PHOTO_VACCINATION_AREA: _l("Photo of the vaccination area"),
    DocumentKind.PERMIT_LETTER: _l("Permit or recommendation letter (PDF)"),
    DocumentKind.OTHER: _l("Other document requested by the reviewer"),
}
