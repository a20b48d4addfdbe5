"""Writers: rows (header first) into CSV or XLSX, streamed to a binary file.

Both hold one row at a time: CSV through the csv module, XLSX through openpyxl's
write-only workbook (rows go to a temporary file, then into the zip). Every text cell
that a spreadsheet would run as a formula is neutralised (OWASP "CSV injection"): a
person's name typed as ``=HYPERLINK(...)`` on the public booking page must stay text.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from itertools import islice
from typing import BinaryIO

#: report progress every this many rows
PROGRESS_EVERY = 5000
#: rows handed to a writer at once (PROGRESS_EVERY is a multiple of it)
_BATCH = 500

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "fhir": "application/fhir+json",
}
EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "fhir": "json"}

_FORMULA_START = frozenset("=+-@\t\r")
_NUMBER_LIKE = re.compile(r"[+-]?[\d .()/-]+")  # phone numbers, dates: not formulas

Progress = Callable[[int], None]


def safe_cell(value):
    """``value``, with text that a spreadsheet would evaluate prefixed by a quote."""
    if value.__class__ is str and value[:1] in _FORMULA_START and not _NUMBER_LIKE.fullmatch(value):
        return "'" + value
    return value


def safe_row(row) -> list:
    """:func:`safe_cell` of every value of ``row`` (inlined: it runs for every cell)."""
    return [
        "'" + v
        if v.__class__ is str and v[:1] in _FORMULA_START and not _NUMBER_LIKE.fullmatch(v)
        else v
        for v in row
    ]


def _counted(rows: Iterable, progress: Progress | None) -> Iterable:
    done = -1  # the header is not a row
    for row in rows:
        yield row
        done += 1
        if progress is not None and done and done % PROGRESS_EVERY == 0:
            progress(done)
    if progress is not None:
        progress(max(done, 0))


def _batches(rows: Iterator, progress: Progress | None) -> Iterator[list]:
    """The data rows (after the header) in lists of ``_BATCH``, so writers hand whole
    batches to C code (``writerows``) and count once per batch, not once per row;
    ``progress`` as :func:`_counted` reports it."""
    done = 0
    while batch := list(islice(rows, _BATCH)):
        yield batch
        done += len(batch)
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done)
    if progress is not None:
        progress(done)


def write_csv(rows: Iterable, out: BinaryIO, progress: Progress | None = None) -> None:
    """CSV (RFC 4180, UTF-8 with a byte-order mark so spreadsheet programs read it)."""
    # The byte-order mark written by hand: the "utf-8-sig" codec's encoder is Python
    # code run on every row, plain "utf-8" is encoded in C.
    out.write(codecs.BOM_UTF8)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
    writer = csv.writer(text)
    rows = iter(rows)
    header = next(rows, None)
    if header is not None:
        writer.writerow(safe_row(header))
    for batch in _batches(rows, progress):
        writer.writerows(map(safe_row, batch))
    text.flush()
    text.detach()  # leave ``out`` open for the caller


def write_xlsx(rows: Iterable, out: BinaryIO, progress: Progress | None = None) -> None:
    """XLSX, one sheet, header in bold and frozen."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Export")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    first = True
    for row in _counted(rows, progress):
        if first:
            cells = []
            for label in row:
                cell = WriteOnlyCell(sheet, value=safe_cell(label))
                cell.font = bold
                cells.append(cell)
            sheet.append(cells)
            first = False
        else:
            sheet.append(safe_row(row))
    book.save(out)
