"""The roster import, shared by the console's upload and the API's bulk upsert.

An import validates every row first, then writes in bulk: one ``INSERT … ON CONFLICT
(tenant, campaign, employee number) DO UPDATE`` per batch of rows (PostgreSQL and
SQLite alike), so a re-import updates lines by employee number and never duplicates
them. Rows identical to what is stored are left alone (no re-encryption, no write).
A line's dependants allowance is never lowered below the dependants already booked
(the database CHECK would refuse the whole batch): the update's ``WHERE`` skips such a
line and the report says why. The caller commits once; a file that cannot be read
raises before anything is written.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa
from flask_babel import gettext as _
from stdnum.exceptions import InvalidComponent
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.id import nik as stdnum_nik

from core import crypto
from core.audit import log_action
from core.db import utcnow
from core.extensions import db
from core.ids import uuid7
from core.models import User
from tenants.campaigns.models import Campaign
from tenants.roster.models import EMAIL_PURPOSE
from tenants.roster.models import NIK_PURPOSE
from tenants.roster.models import RosterEntry
from tenants.roster.models import entry_aad

#: rows per statement (SQLite: 14 parameters a row stays under its 32,766 limit)
BATCH = 1000
MAX_DEPENDANTS = 50
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
#: NUL and other C0 controls (tab excepted) cannot be stored or shown sensibly
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d")


class RowStatus:
    ACCEPTED = "accepted"  # a new line
    UPDATED = "updated"  # an existing line (same employee number) changed
    UNCHANGED = "unchanged"  # an existing line, identical
    REFUSED = "refused"


@dataclass
class RowResult:
    """What happened to one row: its number in the file (or index in the API call)."""

    row: int
    employee_number: str | None
    status: str
    reasons: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    rows: list[RowResult]

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    @property
    def counts(self) -> dict[str, int]:
        return {
            s: self.count(s)
            for s in (RowStatus.ACCEPTED, RowStatus.UPDATED, RowStatus.UNCHANGED, RowStatus.REFUSED)
        }

    @property
    def refused(self) -> list[RowResult]:
        return [r for r in self.rows if r.status == RowStatus.REFUSED]


# --- one row ---------------------------------------------------------------------------


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _parse_date(value: object) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    if text is None:
        return None
    if len(text) == 10 and text[4] == "-":
        try:
            return dt.date.fromisoformat(text)  # the common case, ~50 times faster
        except ValueError:
            pass
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


@functools.lru_cache(maxsize=4096)
def _known_place(prefix: str) -> bool:
    """Whether a NIK's first four digits name a province and regency (python-stdnum's
    table). Cached: looking the table up is most of what validating a NIK costs, and a
    roster has few distinct places. Checked through the public ``validate`` on a NIK
    made of the prefix and a fixed valid date."""
    try:
        stdnum_nik.validate(f"{prefix}00010170" + "0001")
    except StdnumError:
        return False
    return True


@functools.lru_cache(maxsize=1 << 16)
def _possible_birth(digits: str) -> bool:
    """Whether a NIK's birth digits (DDMMYY, women's days plus 40) are a real date, by
    python-stdnum's ``get_birth_date`` on a NIK made of them. Cached like
    :func:`_known_place`: stdnum cleans the whole number of Unicode look-alikes first,
    which cost more than the rest of a row's checks, and birth dates repeat."""
    try:
        stdnum_nik.get_birth_date(f"000000{digits}0000")
    except (InvalidComponent, ValueError):
        return False
    return True


def _nik_problem(nik: str) -> str | None:
    """What is wrong with a NIK, in words (python-stdnum's rules: 16 digits, a real
    birth date, a known province and regency), or None."""
    if not nik.isascii() or not nik.isdigit():
        return _("the NIK %(nik)s may contain only digits", nik=nik)
    if len(nik) != 16:
        return _("the NIK %(nik)s does not have 16 digits", nik=nik)
    if not _possible_birth(nik[6:12]):
        return _("the NIK %(nik)s encodes an impossible birth date", nik=nik)
    if not _known_place(nik[:4]):
        return _("the NIK %(nik)s starts with an unknown province or regency code", nik=nik)
    return None


def _storable(text: str) -> bool:
    """No control characters, and valid Unicode (JSON can carry lone surrogates)."""
    if _CONTROL.search(text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_row(raw: dict, today: dt.date) -> tuple[dict | None, list[str]]:
    """Validate one row: its clean values, or None and the reasons in plain words."""
    reasons: list[str] = []
    if any(isinstance(v, str) and not _storable(v) for v in raw.values()):
        return None, [_("the row contains control characters (invisible codes); retype it")]
    number = _text(raw.get("employee_number"))
    name = _text(raw.get("full_name"))
    if number is None:
        reasons.append(_("the employee number is missing"))
    elif len(number) > 64:
        reasons.append(_("the employee number is longer than 64 characters"))
    if name is None:
        reasons.append(_("the name is missing"))
    elif len(name) > 200:
        reasons.append(_("the name is longer than 200 characters"))
    nik = _text(raw.get("nik"))
    if nik is not None:
        nik = re.sub(r"[\s.\-]", "", nik)
        if problem := _nik_problem(nik):
            reasons.append(problem)
    born = None
    try:
        born = _parse_date(raw.get("date_of_birth"))
    except ValueError as exc:
        reasons.append(
            _(
                "the date of birth %(value)s is not a date (write 31-12-1990 or 1990-12-31)",
                value=str(exc),
            )
        )
    else:
        if born is not None and not (dt.date(1900, 1, 1) <= born <= today):
            reasons.append(_("the date of birth %(value)s is impossible", value=born.isoformat()))
    if nik is None and _text(raw.get("date_of_birth")) is None and born is None:
        reasons.append(_("the row has neither a NIK nor a date of birth: give at least one"))
    email = _text(raw.get("email"))
    if email is not None:
        email = email.lower()
        if not _EMAIL.match(email) or len(email) > 254:
            reasons.append(_("the email address %(email)s is not valid", email=email))
    dependants = 0
    raw_dependants = raw.get("dependants_allowed")
    if _text(raw_dependants) is not None:
        try:
            dependants = int(str(raw_dependants).strip())
        except ValueError:
            reasons.append(
                _("the number of dependants %(value)s is not a whole number", value=raw_dependants)
            )
        else:
            if dependants < 0:
                reasons.append(_("the number of dependants cannot be negative"))
            elif dependants > MAX_DEPENDANTS:
                reasons.append(_("the number of dependants is more than %(n)d", n=MAX_DEPENDANTS))
    if reasons:
        return None, reasons
    return {
        "employee_number": number,
        "full_name": name,
        "nik": nik,
        "date_of_birth": born,
        "email": email,
        "dependants_allowed": dependants,
    }, []


# --- the import ------------------------------------------------------------------------


_COLUMNS = (
    "id",
    "employee_number",
    "full_name",
    "nik_encrypted",
    "nik_bidx",
    "date_of_birth",
    "email_encrypted",
    "email_bidx",
    "dependants_allowed",
)
_SQL_TYPES = ("uuid", "text", "text", "text", "text", "date", "text", "text", "integer")

#: PostgreSQL: a whole batch as one array per column, unnested server-side. A bound
#: parameter per value (multi-row VALUES) spends most of an import in the driver
#: turning 14,000 placeholders per statement into a query; arrays are a few.
_PG_UPSERT = f"""
INSERT INTO roster_entry (tenant_id, campaign_id, dependants_booked, created_at, updated_at,
                          {", ".join(_COLUMNS)})
SELECT %(tenant_id)s, %(campaign_id)s, 0, %(now)s, %(now)s, {", ".join(_COLUMNS)}
FROM unnest({", ".join(f"%({c})s::{t}[]" for c, t in zip(_COLUMNS, _SQL_TYPES, strict=True))})
     AS batch({", ".join(_COLUMNS)})
ON CONFLICT (tenant_id, campaign_id, employee_number) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[2:])},
    link_secret_hash = NULL,
    updated_at = excluded.updated_at
WHERE roster_entry.dependants_booked <= excluded.dependants_allowed
RETURNING employee_number
"""  # noqa: S608 (made of the constant column names above)


def _upsert_postgresql(campaign: Campaign, values: list[dict], now: dt.datetime) -> set[str]:
    connection = db.session.connection()  # the session's transaction: tenant set, RLS on
    written: set[str] = set()
    for start in range(0, len(values), BATCH):
        batch = values[start : start + BATCH]
        params = {c: [row[c] for row in batch] for c in _COLUMNS}
        params.update(tenant_id=campaign.tenant_id, campaign_id=campaign.id, now=now)
        written.update(connection.exec_driver_sql(_PG_UPSERT, params).scalars())
    return written


def _upsert_sqlite(campaign: Campaign, values: list[dict], now: dt.datetime) -> set[str]:
    """The same upsert as one statement compiled once, sent as multi-row VALUES pages
    (SQLAlchemy's insertmanyvalues)."""
    from sqlalchemy.dialects.sqlite import insert

    table = RosterEntry.__table__
    statement = insert(table)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.tenant_id, table.c.campaign_id, table.c.employee_number],
        set_={
            **{c: excluded[c] for c in _COLUMNS[2:]},
            # sa.null(), not None: a bound None outside VALUES stops the batching
            "link_secret_hash": sa.null(),
            "updated_at": excluded.updated_at,
        },
        where=table.c.dependants_booked <= excluded.dependants_allowed,
    ).returning(table.c.employee_number)
    common = {
        "tenant_id": campaign.tenant_id,
        "campaign_id": campaign.id,
        "dependants_booked": 0,
        "created_at": now,
        "updated_at": now,
    }
    connection = db.session.connection()
    written: set[str] = set()
    for start in range(0, len(values), BATCH):
        rows = [{**common, **row} for row in values[start : start + BATCH]]
        written.update(
            connection.execute(
                statement, rows, execution_options={"insertmanyvalues_page_size": BATCH}
            ).scalars()
        )
    return written


def _upsert(campaign: Campaign, values: list[dict], now: dt.datetime) -> set[str]:
    """Insert or update roster lines by employee number; the numbers actually written
    (a line whose allowance would drop below its booked dependants is not)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return _upsert_postgresql(campaign, values, now)
    return _upsert_sqlite(campaign, values, now)


def import_roster(
    campaign: Campaign,
    rows: Iterable[tuple[int, dict]],
    *,
    actor: User | None = None,
    today: dt.date | None = None,
) -> ImportReport:
    """Add or update the campaign's roster from ``(row number, raw values)`` pairs.

    Each row is accepted (new), updated, unchanged, or refused with its reasons. A
    later row with an employee number already seen in the same input is refused.
    Flushes; the caller commits.
    """
    today = today or dt.date.today()
    existing = {
        r.employee_number: r
        for r in db.session.execute(
            sa.select(
                RosterEntry.employee_number,
                RosterEntry.full_name,
                RosterEntry.nik_bidx,
                RosterEntry.date_of_birth,
                RosterEntry.email_bidx,
                RosterEntry.dependants_allowed,
                RosterEntry.dependants_booked,
            ).where(RosterEntry.campaign_id == campaign.id)
        )
    }
    results: list[RowResult] = []
    seen: dict[str, int] = {}
    pending: list[tuple[RowResult, dict]] = []
    now = utcnow()
    # keys read once per import, not per value (four per row)
    encrypt = crypto.encryptor()
    nik_index = crypto.blind_indexer(NIK_PURPOSE)
    email_index = crypto.blind_indexer(EMAIL_PURPOSE)
    for number, raw in rows:
        clean, reasons = check_row(raw, today)
        employee_number = clean["employee_number"] if clean else _text(raw.get("employee_number"))
        result = RowResult(number, employee_number, RowStatus.REFUSED, reasons)
        results.append(result)
        if clean is None:
            continue
        if employee_number in seen:
            result.reasons.append(
                _(
                    "employee number %(number)s appears twice in this file (first in row "
                    "%(row)d); only the first was read",
                    number=employee_number,
                    row=seen[employee_number],
                )
            )
            continue
        seen[employee_number] = number
        nik_bidx = nik_index(clean["nik"]) if clean["nik"] else None
        email_bidx = email_index(clean["email"]) if clean["email"] else None
        old = existing.get(employee_number)
        if old is not None:
            if old.dependants_booked > clean["dependants_allowed"]:
                result.reasons.append(
                    _(
                        "%(booked)d dependants have booked already; the allowance cannot go "
                        "below that",
                        booked=old.dependants_booked,
                    )
                )
                continue
            if (
                old.full_name,
                old.nik_bidx,
                old.date_of_birth,
                old.email_bidx,
                old.dependants_allowed,
            ) == (
                clean["full_name"],
                nik_bidx,
                clean["date_of_birth"],
                email_bidx,
                clean["dependants_allowed"],
            ):
                result.status = RowStatus.UNCHANGED
                continue
        result.status = RowStatus.UPDATED if old is not None else RowStatus.ACCEPTED
        aad = lambda f, n=employee_number: entry_aad(campaign.id, n, f)  # noqa: E731
        pending.append(
            (
                result,
                {
                    "id": uuid7(),
                    "employee_number": employee_number,
                    "full_name": clean["full_name"],
                    "nik_encrypted": encrypt(clean["nik"], aad("nik")) if clean["nik"] else None,
                    "nik_bidx": nik_bidx,
                    "date_of_birth": clean["date_of_birth"],
                    "email_encrypted": encrypt(clean["email"], aad("email"))
                    if clean["email"]
                    else None,
                    "email_bidx": email_bidx,
                    "dependants_allowed": clean["dependants_allowed"],
                },
            )
        )
    written = _upsert(campaign, [v for _r, v in pending], now) if pending else set()
    for result, values in pending:
        if values["employee_number"] not in written:
            # a dependant booked between our read and the write
            result.status = RowStatus.REFUSED
            result.reasons.append(
                _("dependants booked meanwhile exceed the new allowance; import it again")
            )
    report = ImportReport(results)
    log_action(campaign, "tenants.roster.import", actor, report.counts)
    return report


def roster_size(campaign: Campaign) -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(RosterEntry)
        .where(RosterEntry.campaign_id == campaign.id)
    )
