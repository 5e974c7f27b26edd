"""Request and response bodies of `/api/v1/reports/`."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from app.reports.service import IndicatorRow


class IndicatorReportOut(BaseModel):
    period: str = Field(description="YYYY-MM, YYYY-Qn, YYYY, or since..until")
    since: date
    until: date
    as_of: str = Field(description="statuses and revokes are counted up to this instant")
    agency: str = Field(description="the agency whose subtree the report covers")
    rollup: bool
    calendar_note: str
    rows: list[IndicatorRow]


class PaperCountIn(BaseModel):
    agency: str = Field(max_length=35)
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    paper_sent: int = Field(
        ge=0, le=10_000_000, description="documents the agency sent on paper in the month"
    )
    source: str = Field(default="", max_length=300, description="where the figure comes from")


class PaperCountsIn(BaseModel):
    entries: list[PaperCountIn] = Field(min_length=1, max_length=10000)


class PaperCountOut(PaperCountIn):
    entered_by: str
    entered_at: str


class PaperCountsOut(BaseModel):
    items: list[PaperCountOut]


class WrittenOut(BaseModel):
    written: int


class CalendarDay(BaseModel):
    day: date
    name: str = Field(max_length=200)
    working: bool = Field(default=False, description="true: a Saturday or Sunday worked (ngày làm bù)")


class CalendarYearIn(BaseModel):
    days: list[CalendarDay] = Field(max_length=366)


class CalendarYearOut(BaseModel):
    year: int
    source: Literal["configured", "default", "none"]
    days: list[CalendarDay]
