"""The working calendar (lịch làm việc) the handling times are counted in: Monday to Friday, less
public holidays and days off in lieu, plus weekend days worked in exchange (ngày làm bù).

The exceptions of a year come from the `holidays` table when an operator set that year
(`lienthong report holidays set`, `PUT /api/v1/reports/holidays/{year}`), else from the defaults
below. Everything here is pure.

Sources of the defaults (docs/reports.md, "Working days"): the public holidays of the Labour Code
2019 (Bộ luật Lao động 45/2019/QH14, Article 112: 1/1, Tết Nguyên đán 5 days, Giỗ Tổ Hùng Vương
10/3 lunar, 30/4, 1/5, Quốc khánh 2/9 and one day beside it; a holiday on a weekend is made up on
the next working day), with the arrangements announced for civil servants:
- 2025: Thông báo 6150/TB-LĐTBXH (Tết 25/1-2/2; 30/4-4/5 with Saturday 26/4 worked; 30/8-2/9);
- 2026: the Prime Minister's approval of the Ministry of Home Affairs' proposal (Tết 14/2-22/2);
  the other days by the Labour Code (Giỗ Tổ on Sunday 26/4, made up on Monday 27/4);
- 2027: by the Labour Code alone (Tết from the last day of the lunar year, 5/2, to 9/2, the weekend
  days in it made up on 10-11/2; Giỗ Tổ 16/4; 1/5 on a Saturday made up on 3/5; 2/9 with 3/9);
  set the year from the official notice once it is published.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta


@dataclass(frozen=True, slots=True)
class DayException:
    """A day that is not what its weekday says: a holiday (working False) or a worked weekend day."""

    day: date
    name: str
    working: bool = False


def _off(text: str, name: str) -> DayException:
    return DayException(date.fromisoformat(text), name)


def _worked(text: str, name: str) -> DayException:
    return DayException(date.fromisoformat(text), name, working=True)


_TET = "Tết Nguyên đán"
_HUNG = "Giỗ Tổ Hùng Vương"
_NEW_YEAR = "Tết Dương lịch"
_REUNIFICATION = "Ngày Chiến thắng 30/4"
_LABOUR = "Ngày Quốc tế Lao động 1/5"
_NATIONAL = "Quốc khánh 2/9"
_IN_LIEU = "nghỉ bù"

DEFAULT_EXCEPTIONS: Mapping[int, tuple[DayException, ...]] = {
    2025: (
        _off("2025-01-01", _NEW_YEAR),
        *(_off(f"2025-01-{d}", _TET) for d in (27, 28, 29, 30, 31)),
        _off("2025-04-07", _HUNG),
        _off("2025-04-30", _REUNIFICATION),
        _off("2025-05-01", _LABOUR),
        _off("2025-05-02", f"{_LABOUR} (hoán đổi)"),
        _worked("2025-04-26", "làm bù cho 2/5"),
        _off("2025-09-01", _NATIONAL),
        _off("2025-09-02", _NATIONAL),
    ),
    2026: (
        _off("2026-01-01", _NEW_YEAR),
        *(_off(f"2026-02-{d}", _TET) for d in (16, 17, 18, 19, 20)),
        _off("2026-04-27", f"{_HUNG} ({_IN_LIEU})"),
        _off("2026-04-30", _REUNIFICATION),
        _off("2026-05-01", _LABOUR),
        _off("2026-09-01", _NATIONAL),
        _off("2026-09-02", _NATIONAL),
    ),
    2027: (
        _off("2027-01-01", _NEW_YEAR),
        _off("2027-02-05", _TET),
        *(_off(f"2027-02-{d:02d}", _TET) for d in (8, 9)),
        *(_off(f"2027-02-{d:02d}", f"{_TET} ({_IN_LIEU})") for d in (10, 11)),
        _off("2027-04-16", _HUNG),
        _off("2027-04-30", _REUNIFICATION),
        _off("2027-05-03", f"{_LABOUR} ({_IN_LIEU})"),
        _off("2027-09-02", _NATIONAL),
        _off("2027-09-03", _NATIONAL),
    ),
}


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days: Monday-Friday, with the exceptions of each year.

    `years_without_data` are years the calendar was asked about for which neither the table nor
    the defaults had anything: their holidays are unknown and only weekends are off."""

    exceptions: Mapping[date, bool] = field(default_factory=dict)  # day -> is it worked
    years_without_data: frozenset[int] = frozenset()

    @classmethod
    def build(cls, years: Iterable[int], configured: Mapping[int, Iterable[DayException]]) -> WorkingCalendar:
        """The calendar of `years`: each year from `configured` if it has entries, else the defaults."""
        exceptions: dict[date, bool] = {}
        unknown = set()
        for year in sorted(set(years)):
            days = list(configured.get(year, ())) or list(DEFAULT_EXCEPTIONS.get(year, ()))
            if not days:
                unknown.add(year)
            exceptions.update({d.day: d.working for d in days})
        return cls(exceptions, frozenset(unknown))

    def is_working_day(self, day: date) -> bool:
        worked = self.exceptions.get(day)
        if worked is not None:
            return worked
        return day.weekday() < 5

    def index(self, first: date, last: date) -> dict[date, int]:
        """For each day from `first` to `last`: the number of working days from `first` up to and
        including it. Working days between two days d1 <= d2 are then index[d2] - index[d1]."""
        result = {}
        count = 0
        day = first
        while day <= last:
            count += self.is_working_day(day)
            result[day] = count
            day += timedelta(days=1)
        return result

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start): a document
        received on Friday and registered on Monday took 1 working day."""
        if end <= start:
            return 0
        index = self.index(start, end)
        return index[end] - index[start]
