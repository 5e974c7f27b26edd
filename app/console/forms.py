"""What the console's forms share: reading a local date-time field, and pydantic's complaints as
one message per field (shown next to it)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError

from app.kit.clock import VIETNAM


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
