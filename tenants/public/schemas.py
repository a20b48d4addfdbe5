"""The personal data a person gives to book: one schema for the booking page and the
walk-in desk.

Interface (for reuse, e.g. by the on-site walk-in desk)::

    data = PersonSchema().load(request.form)                  # public page: consent needed
    data = PersonSchema(consent_required=False).load(form)    # staff desk: consent asked aloud

``load`` returns ``full_name``, ``nik`` (16 digits), ``date_of_birth`` (date), ``sex``
(:class:`~tenants.booking.models.Sex`), ``phone`` (E.164, ``+62…``), ``email`` (or
None), ``address``, ``occupation`` (or None), ``consent`` (bool) and
``confirm_mismatch``; the keyword names match :func:`register_person`'s
(:func:`person_kwargs` picks them). On a problem it raises
:class:`marshmallow.ValidationError` whose ``messages`` map a field name to a list of
messages. The key ``confirm_mismatch`` is special: the NIK encodes a birth date or a
sex other than the ones typed. That is a *warning*, not an error (NIKs issued with a
mistake exist): show the messages next to a checkbox named ``confirm_mismatch``; once
it is ticked the same data loads.
"""

from __future__ import annotations

import datetime as dt

import phonenumbers
from flask_babel import gettext as _
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import post_load
from marshmallow import pre_load
from marshmallow import validates
from marshmallow import validates_schema
from marshmallow.validate import Email
from stdnum.exceptions import ValidationError as NikError
from stdnum.id import nik as stdnum_nik

from core.schemas import FormSchema
from tenants.booking.models import Sex

#: the version of the privacy notice shown on the page; stored with each consent. Change
#: it whenever the notice's text (templates/public/_privacy.html) changes.
PRIVACY_NOTICE_VERSION = "2026-11"

_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class BirthDate(fields.Field):
    """A date typed as YYYY-MM-DD (the date picker) or DD-MM-YYYY / DD/MM/YYYY (by hand)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value or "").strip()
        for fmt in _DATE_FORMATS:
            try:
                return dt.datetime.strptime(text, fmt).date()
            except ValueError:
                continue
        raise ValidationError(_("Enter the date of birth as day, month and year, e.g. 31-12-1960."))


def normalise_phone(value: str) -> str:
    """An Indonesian phone number in E.164 (``+628…``); ValidationError otherwise."""
    try:
        number = phonenumbers.parse(value, "ID")
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(_("Enter a phone number, e.g. 0812 3456 7890.")) from exc
    if number.country_code != 62 or not phonenumbers.is_valid_number(number):
        raise ValidationError(_("Enter an Indonesian phone number (+62), e.g. 0812 3456 7890."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def nik_mismatches(nik: str, date_of_birth: dt.date | None, sex: Sex | None) -> list[str]:
    """What the NIK says that the typed birth date or sex contradicts (warnings).

    A NIK encodes the birth day (plus 40 for women), month and two-digit year."""
    warnings = []
    day = int(nik[6:8])
    if date_of_birth is not None:
        encoded = (day % 40, int(nik[8:10]), int(nik[10:12]))
        if encoded != (date_of_birth.day, date_of_birth.month, date_of_birth.year % 100):
            warnings.append(
                _("The date of birth does not match the one in the NIK. Please check both.")
            )
    if sex is not None and (Sex.FEMALE if day > 40 else Sex.MALE) != sex:
        warnings.append(_("The sex does not match the one in the NIK. Please check both."))
    return warnings


class PersonSchema(FormSchema):
    full_name = fields.String()
    nik = fields.String()
    date_of_birth = BirthDate()
    sex = fields.String()
    phone = fields.String()
    email = fields.String(load_default=None, allow_none=True)
    address = fields.String()
    occupation = fields.String(load_default=None, allow_none=True)
    consent = fields.Boolean(load_default=False, truthy={"yes", "on", "1", "true"})
    confirm_mismatch = fields.Boolean(load_default=False, truthy={"yes", "on", "1", "true"})

    #: fields a person must fill (blank counts as missing)
    REQUIRED = ("full_name", "nik", "date_of_birth", "sex", "phone", "address")

    def __init__(self, *args, consent_required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.consent_required = consent_required

    @pre_load
    def _clean(self, data, **kwargs):
        cleaned = {key: _strip(data.get(key)) for key in self.fields if key in data}
        for optional in ("email", "occupation"):
            if cleaned.get(optional) == "":
                cleaned[optional] = None
        for required in self.REQUIRED:
            if cleaned.get(required) in ("", None):
                cleaned.pop(required, None)  # blank is missing
        return cleaned

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _required(self, data, original, **kwargs) -> None:
        missing = [name for name in self.REQUIRED if _strip(original.get(name)) in ("", None)]
        if missing:
            raise ValidationError({name: [_("This field is required.")] for name in missing})

    @validates("sex")
    def _sex(self, value: str, **kwargs) -> None:
        if value not in {s.value for s in Sex}:
            raise ValidationError(_("Choose female or male."))

    @validates("full_name")
    def _name(self, value: str, **kwargs) -> None:
        if len(value) < 2:
            raise ValidationError(_("Enter your full name as on your KTP."))
        if len(value) > 200:
            raise ValidationError(_("The name is too long (at most 200 characters)."))

    @validates("address")
    def _address(self, value: str, **kwargs) -> None:
        if len(value) > 500:
            raise ValidationError(_("The address is too long (at most 500 characters)."))

    @validates("occupation")
    def _occupation(self, value: str | None, **kwargs) -> None:
        if value and len(value) > 120:
            raise ValidationError(_("The occupation is too long (at most 120 characters)."))

    @validates("nik")
    def _nik(self, value: str, **kwargs) -> None:
        try:
            stdnum_nik.validate(value)
        except NikError as exc:
            digits = stdnum_nik.compact(value)
            if not digits.isdigit() or len(digits) != 16:
                raise ValidationError(
                    _("A NIK has 16 digits; it is printed on your KTP and family card.")
                ) from exc
            raise ValidationError(
                _("This is not a valid NIK: the birth date in it cannot exist. Please check it.")
            ) from exc

    @validates("email")
    def _email(self, value: str | None, **kwargs) -> None:
        if value is None:
            return
        try:
            Email()(value)
        except ValidationError as exc:
            raise ValidationError(_("Enter a valid email address, e.g. name@example.com.")) from exc
        if len(value) > 254:
            raise ValidationError(_("Enter a valid email address, e.g. name@example.com."))

    @validates("phone")
    def _phone(self, value: str, **kwargs) -> None:
        normalise_phone(value)

    @validates("date_of_birth")
    def _born(self, value: dt.date, **kwargs) -> None:
        today = dt.date.today()
        if value > today:
            raise ValidationError(_("The date of birth cannot be in the future."))
        if value.year < today.year - 120:
            raise ValidationError(_("Please check the year of birth."))

    @validates_schema(skip_on_field_errors=False)
    def _consent(self, data, **kwargs) -> None:
        if self.consent_required and not data.get("consent"):
            raise ValidationError(
                _("To book, you need to agree to the processing of your data."), "consent"
            )

    @validates_schema(skip_on_field_errors=True)
    def _matches_nik(self, data, **kwargs) -> None:
        if data.get("confirm_mismatch") or any(data.get(n) is None for n in self.REQUIRED):
            return
        warnings = nik_mismatches(
            stdnum_nik.compact(data["nik"]), data["date_of_birth"], Sex(data["sex"])
        )
        if warnings:
            raise ValidationError(warnings, "confirm_mismatch")

    @post_load
    def _normalise(self, data, **kwargs):
        data["nik"] = stdnum_nik.compact(data["nik"])
        data["sex"] = Sex(data["sex"])
        data["phone"] = normalise_phone(data["phone"])
        if data.get("email"):
            data["email"] = data["email"].lower()
        return data


def person_kwargs(data: dict) -> dict:
    """The keyword arguments of :func:`register_person` (besides name and birth date)."""
    return {key: data.get(key) for key in ("nik", "sex", "phone", "email", "address", "occupation")}
