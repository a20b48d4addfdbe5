"""Form validation for the auth pages (marshmallow).

Messages are translated when validation runs (inside the request, in the visitor's
language), so validators raise ``ValidationError(_(...))`` themselves rather than
relying on marshmallow's English defaults. Every field defaults to an empty string:
a missing field and an empty one get the same, helpful message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import pre_load
from marshmallow import validate
from marshmallow import validates_schema

from core.auth.recovery import looks_like_code
from core.errors import DomainError
from core.schemas import FormSchema

PASSWORD_MIN = 12
PASSWORD_MAX = 256
LOCALES = ("id", "en")


class FormInvalid(DomainError):
    """The submitted form has mistakes; ``errors`` maps each field to one message."""

    status = 422
    code = "invalid_form"

    def __init__(self, errors: dict[str, str]):
        super().__init__(_("Please correct the highlighted fields."))
        self.errors = errors


def load_form(schema: Schema, form: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``form`` (e.g. ``request.form``) with ``schema``; raise :class:`FormInvalid`.

    Errors are returned in the order the fields are declared, so the error summary
    lists them in the order the person reads the form.
    """
    # A missing field is validated as an empty one (load_default skips validators).
    data = {key: form.get(key) or "" for key in schema.fields}
    try:
        return schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        errors = {}
        for name in [*schema.fields, "_schema"]:
            if name in messages:
                value = messages[name]
                errors[name] = str(value[0] if isinstance(value, list) else value)
        raise FormInvalid(errors) from exc


def normalise_email(value: str) -> str:
    """Emails are compared and stored trimmed and lower-case."""
    return (value or "").strip().lower()


def _email(value: str) -> None:
    if not value:
        raise ValidationError(_("Enter your email address."))
    try:
        validate.Email()(value)
    except ValidationError:
        raise ValidationError(_("Enter an email address like name@example.com.")) from None
    if len(value) > 254:
        raise ValidationError(_("The email address is too long."))


def _email_given(value: str) -> None:
    if not value:
        raise ValidationError(_("Enter your email address."))


def _new_password(value: str) -> None:
    if not value:
        raise ValidationError(_("Choose a password."))
    if len(value) < PASSWORD_MIN:
        raise ValidationError(
            _("The password must have at least %(min)d characters.", min=PASSWORD_MIN)
        )
    if len(value) > PASSWORD_MAX:
        raise ValidationError(
            _("The password must have at most %(max)d characters.", max=PASSWORD_MAX)
        )


def _given_password(value: str) -> None:
    if not value:
        raise ValidationError(_("Enter your password."))
    if len(value) > PASSWORD_MAX:  # longer than any password we accept: spare the hasher
        raise ValidationError(_("The password is not right."))


def _name(value: str) -> None:
    if not value:
        raise ValidationError(_("Enter your name."))
    if len(value) > 200:
        raise ValidationError(_("The name is too long (at most %(max)d characters).", max=200))


class _FormSchema(FormSchema):
    @pre_load
    def _strip(self, data: dict, **kwargs) -> dict:
        cleaned = {}
        for key, value in data.items():
            if isinstance(value, str) and "password" not in key:
                value = value.strip()
            cleaned[key] = value
        if "email" in cleaned:
            cleaned["email"] = normalise_email(cleaned["email"])
        return cleaned


def _string(validator=None) -> fields.String:
    return fields.String(load_default="", validate=validator)


class SignUpSchema(_FormSchema):
    name = _string(_name)
    email = _string(_email)
    password = _string(_new_password)

    @validates_schema
    def _password_not_email(self, data: dict, **kwargs) -> None:
        if data.get("password") and data["password"].strip().lower() == data.get("email"):
            raise ValidationError(
                _("Choose a password that is not your email address."), "password"
            )


class SignInSchema(_FormSchema):
    # Not checked for format: a malformed email gets the same answer as an unknown one.
    email = _string(_email_given)
    password = _string(_given_password)
    next = _string()


class EmailSchema(_FormSchema):
    email = _string(_email)


class PasswordSchema(_FormSchema):
    password = _string(_given_password)


class NewPasswordSchema(_FormSchema):
    """A new password for a known account (reset): it may not be the account's email."""

    password = _string(_new_password)

    def __init__(self, *, email: str, **kwargs):
        super().__init__(**kwargs)
        self.email = email

    @validates_schema
    def _password_not_email(self, data: dict, **kwargs) -> None:
        if data.get("password", "").strip().lower() == self.email:
            raise ValidationError(
                _("Choose a password that is not your email address."), "password"
            )


class ChangePasswordSchema(_FormSchema):
    current_password = _string(_given_password)
    new_password = _string(_new_password)

    def __init__(self, *, email: str, **kwargs):
        super().__init__(**kwargs)
        self.email = email

    @validates_schema
    def _password_not_email(self, data: dict, **kwargs) -> None:
        if data.get("new_password", "").strip().lower() == self.email:
            raise ValidationError(
                _("Choose a password that is not your email address."), "new_password"
            )


def _code(value: str) -> None:
    digits = "".join(value.split())
    if not digits:
        raise ValidationError(_("Enter the 6-digit code from your authenticator app."))
    if not digits.isdigit() or len(digits) != 6:
        raise ValidationError(_("The code has 6 digits, like 123456."))


class TotpCodeSchema(_FormSchema):
    code = _string(_code)


class ReplaceTotpSchema(_FormSchema):
    """Moving to a new authenticator app: the password again, and a code from the new app."""

    password = _string(_given_password)
    code = _string(_code)


def _sign_in_code(value: str) -> None:
    digits = "".join(value.split())
    if not digits:
        raise ValidationError(_("Enter the 6-digit code from your authenticator app."))
    if not (digits.isdigit() and len(digits) == 6) and not looks_like_code(value):
        raise ValidationError(
            _("Enter the 6 digits from your app, or a recovery code like abcde-fghjk.")
        )


class SignInCodeSchema(_FormSchema):
    """The second sign-in step: a TOTP code, or one of the recovery codes."""

    code = _string(_sign_in_code)


def _locale(value: str) -> None:
    if value not in LOCALES:
        raise ValidationError(_("Choose a language from the list."))


class LanguageSchema(_FormSchema):
    locale = _string(_locale)
