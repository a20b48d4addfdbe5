"""Forms of the manage and offer pages."""

from __future__ import annotations

from marshmallow import fields

from core.schemas import FormSchema


class SlotChoiceSchema(FormSchema):
    """The time a person picked (reschedule, or accepting a waitlist offer)."""

    slot_id = fields.UUID(required=True)
