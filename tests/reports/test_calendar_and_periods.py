"""The working calendar, the periods and the statistics: pure functions, answers worked by hand."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.reports.calendar import DEFAULT_EXCEPTIONS, DayException, WorkingCalendar
from app.reports.periods import InvalidPeriod, Period, previous_month
from app.reports.service import median, p90


def test_tet_2026_is_five_working_days_off() -> None:
    calendar = WorkingCalendar.build([2026], {})
    # Friday 13 Feb before Tết, Monday 23 Feb after: the whole week of 16-20 Feb is off.
    assert calendar.working_days_between(date(2026, 2, 13), date(2026, 2, 23)) == 1
    assert not calendar.is_working_day(date(2026, 2, 17))
    assert (
        calendar.working_days_between(date(2026, 4, 24), date(2026, 4, 28)) == 1
    )  # Giỗ Tổ made up on Mon 27


def test_a_worked_saturday_counts() -> None:
    calendar = WorkingCalendar.build([2025], {})
    assert calendar.is_working_day(date(2025, 4, 26))  # worked in exchange for Friday 2 May
    assert not calendar.is_working_day(date(2025, 5, 2))
    assert calendar.working_days_between(date(2025, 4, 25), date(2025, 4, 28)) == 2


def test_configured_years_replace_the_defaults_and_unknown_years_are_said() -> None:
    configured = {2026: [DayException(date(2026, 11, 20), "x")]}
    calendar = WorkingCalendar.build([2026, 2031], configured)
    assert calendar.is_working_day(date(2026, 2, 17))  # the default Tết is replaced
    assert not calendar.is_working_day(date(2026, 11, 20))
    assert calendar.years_without_data == frozenset({2031})
    assert calendar.working_days_between(date(2026, 11, 19), date(2026, 11, 23)) == 1


def test_every_default_holiday_is_a_weekday_and_every_worked_day_a_weekend_day() -> None:
    for year, days in DEFAULT_EXCEPTIONS.items():
        for day in days:
            assert day.day.year == year
            assert (day.day.weekday() >= 5) == day.working, day


@given(st.dates(date(2025, 1, 1), date(2027, 12, 31)), st.integers(0, 60), st.integers(0, 60))
def test_working_days_add_up(start: date, a: int, b: int) -> None:
    calendar = WorkingCalendar.build([2025, 2026, 2027], {})
    middle = date.fromordinal(min(start.toordinal() + a, date(2027, 12, 31).toordinal()))
    end = date.fromordinal(min(middle.toordinal() + b, date(2027, 12, 31).toordinal()))
    total = calendar.working_days_between(start, end)
    assert total == calendar.working_days_between(start, middle) + calendar.working_days_between(middle, end)
    assert 0 <= total <= (end - start).days


def test_periods() -> None:
    assert Period.parse("2026-11").months() == ["2026-11"]
    assert (Period.parse("2026-12").first, Period.parse("2026-12").after) == (
        date(2026, 12, 1),
        date(2027, 1, 1),
    )
    assert Period.parse("2026-Q4").months() == ["2026-10", "2026-11", "2026-12"]
    assert len(Period.parse("2026").months() or []) == 12
    assert Period.between(date(2026, 11, 1), date(2026, 11, 30)).months() == ["2026-11"]
    assert Period.between(date(2026, 11, 2), date(2026, 11, 30)).months() is None
    assert Period.parse("2026-11").start.isoformat() == "2026-11-01T00:00:00+07:00"
    assert previous_month(date(2027, 1, 5)).label == "2026-12"
    with pytest.raises(InvalidPeriod):
        Period.between(date(2020, 1, 1), date(2026, 1, 1))  # longer than 3 years
    for bad in ("2026-13", "2026-Q5", "26", "2026-1", "2026-11-01", "0000", "9999-12"):
        with pytest.raises(InvalidPeriod):
            Period.parse(bad)


def test_median_and_p90() -> None:
    assert median(Counter()) is None and p90(Counter()) is None
    assert median(Counter({3: 1})) == 3 and p90(Counter({3: 1})) == 3
    assert median(Counter({0: 2, 1: 1, 3: 1})) == 0.5
    values = Counter({day: 1 for day in range(1, 11)})  # 1..10
    assert (median(values), p90(values)) == (5.5, 9)
    assert p90(Counter({1: 89, 50: 11})) == 50 and p90(Counter({1: 90, 50: 10})) == 1
