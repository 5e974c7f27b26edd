"""The textual formats edXML uses for dates and timestamps, and the clock they are read against.

edXML writes dates as `yyyy/MM/dd` and timestamps as `yyyy/MM/dd HH:mm:ss`, in the local time of
Vietnam (UTC+7) unless a producer says otherwise.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from app.kit.clock import VIETNAM, vietnam_now

_DATE = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2})")
_TIMESTAMP = re.compile(r"([0-9]{4})/([0-9]{2})/([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})")


def vietnam_today() -> date:
    """Today's date in Vietnam: what "not in the future" means for a promulgation date."""
    return vietnam_now().date()


def parse_date(text: str) -> date | None:
    """`yyyy/MM/dd` to a date; None when the text is not exactly that shape or not a real day."""
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day = map(int, match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def is_timestamp(text: str) -> bool:
    """True when the text is `yyyy/MM/dd HH:mm:ss` and names a real moment."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = map(int, match.groups())
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def format_date(value: date) -> str:
    return f"{value.year:04d}/{value.month:02d}/{value.day:02d}"


def format_timestamp(value: datetime) -> str:
    """A timestamp as edXML writes it; an aware value is first converted to Vietnam time."""
    if value.tzinfo is not None:
        value = value.astimezone(VIETNAM)
    return f"{format_date(value)} {value.hour:02d}:{value.minute:02d}:{value.second:02d}"
