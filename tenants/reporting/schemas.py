"""Forms and API representations: starting an export, a run, a schedule, a period."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import Schema
from marshmallow import fields
from marshmallow import pre_dump
from marshmallow import pre_load
from marshmallow import validate

from core.schemas import FormSchema
from tenants.reporting.exporters import EXPORTERS
from tenants.reporting.exporters.base import PeriodSchema
from tenants.reporting.models import ExportFormat
from tenants.reporting.models import RunStatus


def _choice(message) -> dict:
    return {"required": message, "null": message, "validator_failed": message}


class _Blanks:
    @pre_load
    def _drop_blanks(self, data, **kwargs):
        return {k: v for k, v in dict(data).items() if not (isinstance(v, str) and not v.strip())}


class StartExportForm(_Blanks, FormSchema):
    """The console's form: which export, which format (parameters come separately)."""

    exporter = fields.String(
        required=True,
        validate=validate.OneOf(list(EXPORTERS)),
        error_messages=_choice(_l("Choose an export.")),
    )
    format = fields.Enum(
        ExportFormat, by_value=True, required=True, error_messages=_choice(_l("Choose a format."))
    )


class PeriodForm(_Blanks, PeriodSchema, FormSchema):
    """The period and filters as the console's form posts them (empty filters: all)."""


class ExportCreateSchema(Schema):
    """Start an export (API)."""

    exporter = fields.String(
        required=True,
        validate=validate.OneOf(list(EXPORTERS)),
        metadata={"description": "One of: " + ", ".join(EXPORTERS)},
    )
    format = fields.Enum(
        ExportFormat,
        by_value=True,
        required=True,
        metadata={"description": "fhir (a FHIR R4 Bundle) for administered_doses only"},
    )
    parameters = fields.Nested(PeriodSchema, required=True)


class ExportRunSchema(Schema):
    """An export run as the API shows it."""

    id = fields.UUID(dump_only=True)
    exporter = fields.String(dump_only=True)
    format = fields.Enum(ExportFormat, by_value=True, dump_only=True)
    parameters = fields.Nested(PeriodSchema, dump_only=True)
    status = fields.Enum(RunStatus, by_value=True, dump_only=True)
    rows_done = fields.Integer(dump_only=True)
    size = fields.Integer(dump_only=True, allow_none=True, metadata={"description": "bytes"})
    error = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    started_at = fields.DateTime(dump_only=True, allow_none=True)
    finished_at = fields.DateTime(dump_only=True, allow_none=True)

    @pre_dump
    def _typed_parameters(self, run, **kwargs):
        # stored serialised (JSON column); shown with the same types the client sent
        names = ("id", "exporter", "format", "status", "rows_done", "size", "error",
                 "created_at", "started_at", "finished_at")  # fmt: skip
        return {
            **{n: getattr(run, n) for n in names},
            "parameters": PeriodSchema().load(run.parameters),
        }


class DownloadLinkSchema(Schema):
    """A short-lived link to an export's file."""

    url = fields.String(dump_only=True)
    expires_at = fields.DateTime(dump_only=True)


class ScheduleForm(_Blanks, FormSchema):
    """A daily report: which export, which format, to whom."""

    exporter = fields.String(
        required=True,
        validate=validate.OneOf(list(EXPORTERS)),
        error_messages=_choice(_l("Choose an export.")),
    )
    format = fields.Enum(
        ExportFormat, by_value=True, required=True, error_messages=_choice(_l("Choose a format."))
    )
    recipients = fields.List(
        fields.String(validate=validate.Email(error=_l("Write valid email addresses."))),
        required=True,
        validate=validate.Length(min=1, max=20, error=_l("Give one to twenty addresses.")),
        error_messages=_choice(_l("Give at least one email address.")),
    )

    @pre_load
    def _split(self, data, **kwargs):
        data = dict(data)
        raw = data.get("recipients")
        if isinstance(raw, str):
            data["recipients"] = [
                part.strip().lower()
                for part in raw.replace(";", ",").replace("\n", ",").split(",")
                if part.strip()
            ]
        return data
