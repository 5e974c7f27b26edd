"""What the console's forms share: reading a local date-time field, and pydantic's complaints as
one message per field (shown next to it)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from app.kit.clock import VIETNAM
from app.kit.errors import HubError


def local_moment(text: str | None) -> datetime | str | None:
    """A `datetime-local` field (Vietnam time, no offset) as an aware moment; other text is passed on
    for the model to refuse."""
    if not text or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    return moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM)


def field_errors(error: ValidationError) -> dict[str, str]:
    return {str(e["loc"][0]) if e["loc"] else "form": e["msg"] for e in error.errors()}


def refusal(error: HubError) -> str:
    """A service's refusal (400, 404, 409) as one line for a flash message: its detail, then each
    problem's (the detail is the operators' text, as the service wrote it)."""
    parts = [error.detail] + [p.message for p in error.errors if p.message and p.message != error.detail]
    return "; ".join(parts)[:480]


def optional_float(text: str | None) -> float | str | None:
    """A number field: empty is None, a number is a float, other text is passed on to be refused."""
    if text is None or not text.strip():
        return None
    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        return text
