"""Dates at their precision: the datatype of a date literal says how much is known.

``xsd:date`` is a day, ``xsd:gYearMonth`` a month, ``xsd:gYear`` a year (docs/model.md §2.4).
A date is therefore a *period* — the whole unit it names — never a made-up exact day.

>>> p = parse_period("2024-01", XSD + "gYearMonth")
>>> p.start, p.end, p.precision, p.text
(datetime.date(2024, 1, 1), datetime.date(2024, 2, 1), 'month', 'Jan 2024')
>>> parse_period("2024-05-08", XSD + "date").text
'8 May 2024'
>>> parse_period("2009", None).text
'2009'
>>> window_text(parse_period("2026-04", None), parse_period("2026", None))
'Apr – Dec 2026'
>>> window_text(parse_period("2017", None), parse_period("2026", None))
'2017 – 2026'
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from spacecoop import config

XSD = str(config.XSD)
PRECISION_BY_DATATYPE = {XSD + "date": "day", XSD + "dateTime": "day", XSD + "gYearMonth": "month",
                         XSD + "gYear": "year"}
# A timezone suffix (Z, +01:00) does not change which day/month/year is meant here.
_LEXICAL = re.compile(r"^(-?\d{4,})(?:-(\d{2}))?(?:-(\d{2}))?(?:T[^Z+-]*)?(?:Z|[+-]\d{2}:\d{2})?$")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Period:
    """The unit a date literal names: ``[start, end)`` at ``precision`` (day|month|year)."""

    start: dt.date
    end: dt.date
    precision: str

    @property
    def text(self) -> str:
        """The date as a person writes it, at its own precision."""
        if self.precision == "day":
            return f"{self.start.day} {MONTHS[self.start.month - 1]} {self.start.year}"
        if self.precision == "month":
            return f"{MONTHS[self.start.month - 1]} {self.start.year}"
        return str(self.start.year)

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)


def parse_period(lexical: str, datatype: str | None) -> Period | None:
    """The period a date literal names, or None when it is not a date we can read."""
    m = _LEXICAL.match(lexical.strip())
    if not m:
        return None
    precision = PRECISION_BY_DATATYPE.get(datatype or "")
    if precision is None:  # untyped: read the precision off the lexical form
        precision = "day" if m.group(3) else "month" if m.group(2) else "year"
    try:
        year = int(m.group(1))
        if precision == "year":
            return Period(dt.date(year, 1, 1), dt.date(year + 1, 1, 1), "year")
        month = int(m.group(2) or 1)
        if precision == "month":
            end = dt.date(year + (month == 12), month % 12 + 1, 1)
            return Period(dt.date(year, month, 1), end, "month")
        day = dt.date(year, month, int(m.group(3) or 1))
        return Period(day, day + dt.timedelta(days=1), "day")
    except (ValueError, OverflowError):
        return None


def window_text(earliest: Period, latest: Period) -> str:
    """A window between two bounds, each at its own precision ("Apr – Dec 2026")."""
    if earliest.start.year == latest.last_day.year and earliest.precision != "year":
        last = latest.last_day
        end = f"{last.day} {MONTHS[last.month - 1]}" if latest.precision == "day" else MONTHS[last.month - 1]
        start = earliest.text.rsplit(" ", 1)[0]
        return f"{start} – {end} {last.year}"
    if earliest == latest:
        return earliest.text
    return f"{earliest.text} – {latest.text}"


def year_fraction(day: dt.date) -> float:
    """The position of a day inside its year, 0.0 (1 January) to just under 1.0."""
    start = dt.date(day.year, 1, 1)
    length = (dt.date(day.year + 1, 1, 1) - start).days
    return (day - start).days / length
