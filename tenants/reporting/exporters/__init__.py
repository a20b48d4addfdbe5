"""The registry of exporters: identifier → class."""

from __future__ import annotations

from tenants.reporting.exporters.base import Exporter
from tenants.reporting.exporters.doses import AdministeredDoses
from tenants.reporting.exporters.participation import EmployeeParticipation
from tenants.reporting.exporters.schedule import BookingsSchedule
from tenants.reporting.exporters.stock import StockMovements

EXPORTERS: dict[str, type[Exporter]] = {
    cls.identifier: cls
    for cls in (AdministeredDoses, BookingsSchedule, StockMovements, EmployeeParticipation)
}


def get_exporter(identifier: str) -> type[Exporter] | None:
    """The exporter class with this identifier, or None."""
    return EXPORTERS.get(identifier)
