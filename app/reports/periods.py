"""Report periods: a month `YYYY-MM`, a quarter `YYYY-Qn`, a year `YYYY`, or any range of days.

A period is a half-open range of Vietnam local days [first, after); the hub stores UTC, so the
queries use the corresponding UTC instants. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from app.kit.clock import VIETNAM

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_YEAR = re.compile(r"(\d{4})")


FIRST_YEAR, LAST_YEAR = 2000, 2100  # what a report of this hub can be about
MAX_DAYS = 3 * 366  # the longest range of days a report covers


class InvalidPeriod(ValueError):
    """The text is not a period this module knows."""


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidPeriod(f"year {year} is outside {FIRST_YEAR}-{LAST_YEAR}")


@dataclass(frozen=True, slots=True)
class Period:
    label: str  # "2026-11", "2026-Q4", "2026", or "2026-11-03..2026-11-17"
    first: date  # first day (Vietnam local), included
    after: date  # the day after the last one

    @classmethod
    def parse(cls, text: str) -> Period:
        if match := _MONTH.fullmatch(text):
            year, month = int(match[1]), int(match[2])
            _check_year(year)
            return cls(text, date(year, month, 1), _month_start(year, month + 1))
        if match := _QUARTER.fullmatch(text):
            year, quarter = int(match[1]), int(match[2])
            _check_year(year)
            return cls(text, date(year, 3 * quarter - 2, 1), _month_start(year, 3 * quarter + 1))
        if match := _YEAR.fullmatch(text):
            year = int(match[1])
            _check_year(year)
            return cls(text, date(year, 1, 1), date(year + 1, 1, 1))
        raise InvalidPeriod(f"period {text!r} is not YYYY-MM, YYYY-Qn or YYYY")

    @classmethod
    def between(cls, since: date, until: date) -> Period:
        """The days from `since` to `until`, both included."""
        if until < since:
            raise InvalidPeriod(f"until {until} is before since {since}")
        _check_year(since.year)
        _check_year(until.year)
        if (until - since).days >= MAX_DAYS:
            raise InvalidPeriod(f"a range covers at most {MAX_DAYS} days")
        return cls(f"{since.isoformat()}..{until.isoformat()}", since, until + timedelta(days=1))

    @property
    def last(self) -> date:
        return self.after - timedelta(days=1)

    @property
    def start(self) -> datetime:
        """The first instant (aware, Vietnam time)."""
        return datetime.combine(self.first, time(), VIETNAM)

    @property
    def end(self) -> datetime:
        """The instant after the last one."""
        return datetime.combine(self.after, time(), VIETNAM)

    def months(self) -> list[str] | None:
        """The months `YYYY-MM` the period is made of, or None when it does not cover whole months."""
        if self.first.day != 1 or self.after.day != 1:
            return None
        months = []
        day = self.first
        while day < self.after:
            months.append(f"{day.year:04d}-{day.month:02d}")
            day = _month_start(day.year, day.month + 1)
        return months


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def previous_month(today: date) -> Period:
    """The month before the one `today` is in."""
    first = today.replace(day=1) - timedelta(days=1)
    return Period.parse(f"{first.year:04d}-{first.month:02d}")
