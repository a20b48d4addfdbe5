"""Reading a roster file (CSV or XLSX) into rows keyed by field, headers in either language.

Nothing here touches the database: a file that cannot be read raises
:class:`RosterFileError` before anything is written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from flask_babel import gettext as _

from core.errors import DomainError

#: field → the header names it is recognised by (compared lower-case, punctuation as spaces)
HEADERS: dict[str, tuple[str, ...]] = {
    "employee_number": (
        "employee number",
        "employee no",
        "employee id",
        "staff number",
        "nomor karyawan",
        "no karyawan",
        "nomor pegawai",
        "no pegawai",
        "id karyawan",
        "nomor induk karyawan",
        "nip",
    ),
    "full_name": ("name", "full name", "employee name", "nama", "nama lengkap", "nama karyawan"),
    "nik": (
        "nik",
        "national id",
        "national id number",
        "id card number",
        "ktp",
        "no ktp",
        "nomor ktp",
        "nik ktp",
        "nomor induk kependudukan",
    ),
    "date_of_birth": (
        "date of birth",
        "birth date",
        "birthdate",
        "dob",
        "tanggal lahir",
        "tgl lahir",
    ),
    "email": ("email", "e mail", "email address", "alamat email", "surel", "alamat surel"),
    "dependants_allowed": (
        "dependants",
        "dependants allowed",
        "dependents",
        "dependents allowed",
        "number of dependants",
        "tanggungan",
        "jumlah tanggungan",
        "jumlah anggota keluarga",
        "anggota keluarga",
    ),
}
_BY_HEADER = {name: field for field, names in HEADERS.items() for name in names}
#: the most rows one file may hold (a bound on memory and on one request's work)
MAX_ROWS = 200_000


class RosterFileError(DomainError):
    """The file cannot be read as a roster; nothing was saved."""

    status = 422
    code = "roster_file"


@dataclass
class Table:
    """A roster file's rows: ``(row number in the file, {field: raw value})``."""

    fields: list[str]
    rows: list[tuple[int, dict]]


def _header_key(text: object) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(text or "").lower()).strip()


def _cell(value: object) -> object:
    """A cell as text, or a date; whole numbers from a spreadsheet lose their ``.0``."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _map_header(row: list) -> dict[int, str]:
    columns: dict[int, str] = {}
    for index, name in enumerate(row):
        field = _BY_HEADER.get(_header_key(name))
        if field is not None and field not in columns.values():
            columns[index] = field
    missing = [f for f in ("employee_number", "full_name") if f not in columns.values()]
    if missing or not {"nik", "date_of_birth"} & set(columns.values()):
        raise RosterFileError(
            _(
                "The first row must name the columns: employee number, name, and NIK or "
                "date of birth (email and dependants are optional). See the example on "
                "this page."
            ),
            code="roster_headers",
        )
    return columns


def _table(raw_rows: Iterator[list]) -> Table:
    columns: dict[int, str] | None = None
    rows: list[tuple[int, dict]] = []
    for number, raw in enumerate(raw_rows, start=1):
        cells = [_cell(v) for v in raw]
        if not any(c is not None for c in cells):
            continue  # blank lines, before or between rows
        if columns is None:
            columns = _map_header(cells)
            continue
        if len(rows) >= MAX_ROWS:
            raise RosterFileError(
                _("A file may hold at most %(n)d rows; split it in parts.", n=MAX_ROWS),
                code="roster_too_big",
            )
        rows.append((number, {f: cells[i] if i < len(cells) else None for i, f in columns.items()}))
    if columns is None:
        raise RosterFileError(_("The file is empty."), code="roster_empty")
    return Table(fields=list(columns.values()), rows=rows)


def _read_csv(data: bytes) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")  # Excel's "CSV" on Windows
        except UnicodeDecodeError:
            raise RosterFileError(
                _("The file is not readable text. Save it as CSV (UTF-8) or as .xlsx."),
                code="roster_unreadable",
            ) from None
    if "\x00" in text:
        raise RosterFileError(
            _("The file is not readable text. Save it as CSV (UTF-8) or as .xlsx."),
            code="roster_unreadable",
        )
    first = text.split("\n", 1)[0]
    # Excel writes ";" where the decimal separator is "," (Indonesian settings).
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        return _table(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise RosterFileError(
            _("The CSV file is malformed (%(why)s).", why=str(exc)), code="roster_unreadable"
        ) from None


def _read_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise RosterFileError(
            _("The spreadsheet cannot be opened (%(why)s). Save it again as .xlsx.", why=exc),
            code="roster_unreadable",
        ) from None
    try:
        sheet = workbook.worksheets[0]
        return _table(sheet.iter_rows(values_only=True))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise RosterFileError(
            _("The spreadsheet cannot be read (%(why)s). Save it again as .xlsx.", why=exc),
            code="roster_unreadable",
        ) from None
    finally:
        workbook.close()


def read_roster_file(filename: str, data: bytes) -> Table:
    """The rows of an uploaded roster (CSV or XLSX, told apart by content)."""
    if not data:
        raise RosterFileError(_("The file is empty."), code="roster_empty")
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data)
    if data.startswith(b"\xd0\xcf\x11\xe0") or filename.lower().endswith(".xls"):
        raise RosterFileError(
            _("Old Excel files (.xls) are not read. Save the sheet as .xlsx or CSV."),
            code="roster_unreadable",
        )
    return _read_csv(data)
