"""The administered-doses export as a FHIR R4 ``Bundle`` (type ``collection``) of
``Immunization`` resources, each with its ``Patient``, the form SATUSEHAT exchanges.

Written incrementally: the bundle's opening, then one entry at a time, then its end,
so memory stays constant. Each resource is validated with the ``fhir.resources``
R4B models (R4B is R4 with errata; ``Patient`` and ``Immunization`` are unchanged)
before it is written. Doses come ordered by person, so each person's ``Patient``
entry is written once, before their first dose (a bundle's ``fullUrl`` must be
unique) without remembering who was written.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import BinaryIO

from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.patient import Patient
from flask import current_app

from core.ids import uuid7
from tenants.reporting.exporters.doses import AdministeredDoses
from tenants.reporting.exporters.doses import Dose
from tenants.reporting.writers import Progress
from tenants.reporting.writers import _counted

#: the identifier system of the NIK (SATUSEHAT's)
NIK_SYSTEM = "https://fhir.kemkes.go.id/id/nik"
_GENDER = {"female": "female", "male": "male"}


def identifier_system(kind: str) -> str:
    """This deployment's identifier system for its own ids (administrations, venues)."""
    return f"{current_app.config['BASE_URL'].rstrip('/')}/fhir/{kind}"


def patient_resource(dose: Dose) -> dict:
    resource = {
        "resourceType": "Patient",
        "identifier": [{"use": "official", "system": NIK_SYSTEM, "value": dose.nik}],
        "name": [{"use": "official", "text": dose.full_name}],
        "gender": _GENDER.get(dose.sex, "unknown"),
        "birthDate": dose.date_of_birth.isoformat(),
    }
    if dose.phone:
        resource["telecom"] = [{"system": "phone", "value": dose.phone, "use": "mobile"}]
    return resource


def immunization_resource(dose: Dose) -> dict:
    performer = {"display": dose.vaccinator} if dose.vaccinator else None
    resource = {
        "resourceType": "Immunization",
        "identifier": [
            {"system": identifier_system("administration"), "value": str(dose.administration_id)}
        ],
        "status": "completed",
        "vaccineCode": {"text": f"{dose.vaccine} ({dose.manufacturer})"},
        "patient": {"reference": f"urn:uuid:{dose.person_id}"},
        "occurrenceDateTime": dose.administered_at.astimezone(dt.UTC).isoformat(),
        "primarySource": True,
        "location": {
            "identifier": {"system": identifier_system("venue"), "value": str(dose.venue_id)},
            "display": dose.venue_name,
        },
        "lotNumber": dose.batch_number,
        "expirationDate": dose.expiry_date.isoformat(),
        "protocolApplied": [{"doseNumberPositiveInt": dose.dose_number}],
    }
    if performer:
        resource["performer"] = [{"actor": performer}]
    return resource


def _entry(full_url: str, model) -> bytes:
    resource = json.loads(model.model_dump_json())
    return json.dumps({"fullUrl": full_url, "resource": resource}, ensure_ascii=False).encode()


def fhir_entries(exporter: AdministeredDoses):
    """Yields (is_dose, entry bytes); a Patient entry precedes each person's doses."""
    current = None
    for dose in exporter.doses():
        if dose.person_id != current:
            current = dose.person_id
            patient = Patient.model_validate(patient_resource(dose))
            yield False, _entry(f"urn:uuid:{dose.person_id}", patient)
        immunization = Immunization.model_validate(immunization_resource(dose))
        yield True, _entry(f"urn:uuid:{dose.administration_id}", immunization)


def write_fhir(
    exporter: AdministeredDoses, out: BinaryIO, progress: Progress | None = None
) -> None:
    """The bundle, streamed to ``out``; ``progress`` counts Immunization entries."""
    exporter.by_person = True
    opening = {
        "resourceType": "Bundle",
        "id": str(uuid7()),
        "type": "collection",
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    out.write(json.dumps(opening)[:-1].encode() + b', "entry": [')
    first = True

    def doses():
        yield None  # _counted skips a header
        for is_dose, entry in fhir_entries(exporter):
            nonlocal first
            out.write(entry if first else b"," + entry)
            first = False
            if is_dose:
                yield entry

    for _ in _counted(doses(), progress):
        pass
    out.write(b"]}")
