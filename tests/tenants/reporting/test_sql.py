"""The text helpers of tenants/reporting/sql.py give, on both databases, what Python's
own formatting gives (the million-row export writes the database's text as it is)."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from core.db import UTCDateTime
from core.extensions import db
from tenants.reporting.sql import age_years
from tenants.reporting.sql import iso_date
from tenants.reporting.sql import iso_utc
from tenants.reporting.sql import uuid_text


def _one(expression):
    return db.session.execute(sa.select(expression)).scalar_one()


def _age(born: dt.date, day: dt.date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@pytest.mark.parametrize(
    ("born", "day"),
    [
        (dt.date(1990, 1, 1), dt.date(2030, 1, 7)),
        (dt.date(1990, 1, 8), dt.date(2030, 1, 7)),  # the day before the birthday
        (dt.date(1990, 1, 7), dt.date(2030, 1, 7)),  # the birthday itself
        (dt.date(2000, 2, 29), dt.date(2031, 2, 28)),  # born on a leap day
        (dt.date(2000, 2, 29), dt.date(2031, 3, 1)),
        (dt.date(2000, 2, 29), dt.date(2032, 2, 29)),
        (dt.date(2029, 12, 31), dt.date(2030, 1, 1)),  # a newborn
        (dt.date(1905, 6, 15), dt.date(2030, 6, 14)),
    ],
)
def test_age_in_whole_years(app, born, day):
    expression = age_years(sa.literal(born, sa.Date()), sa.literal(day, sa.Date()))
    assert _one(expression) == _age(born, day)


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2030, 1, 7, 3, 0, tzinfo=dt.UTC),
        dt.datetime(2030, 1, 7, 23, 59, 59, 999999, tzinfo=dt.UTC),  # cut, not rounded
        dt.datetime(2030, 1, 7, 6, 30, 5, 250000, tzinfo=ZoneInfo("Asia/Jayapura")),
        dt.datetime(2030, 12, 31, 20, 0, 1, tzinfo=ZoneInfo("America/Los_Angeles")),
    ],
)
def test_time_in_utc_to_the_second(app, moment):
    expected = moment.astimezone(dt.UTC).isoformat(timespec="seconds")
    assert _one(iso_utc(sa.literal(moment, UTCDateTime()))) == expected


@pytest.mark.parametrize("day", [dt.date(2030, 1, 7), dt.date(1900, 12, 31), dt.date(2032, 2, 29)])
def test_date_as_iso_text(app, day):
    assert _one(iso_date(sa.literal(day, sa.Date()))) == day.isoformat()


def test_uuid_as_python_writes_it(app):
    value = uuid.UUID("01A20AD0-A7C7-7519-B115-16050B0494F9")
    assert _one(uuid_text(sa.literal(value, sa.Uuid()))) == str(value)
