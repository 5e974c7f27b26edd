"""The directory as agency software sees it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AgencyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    parent_code: str | None
    status: str
    successor_code: str | None
    email: str | None
    has_endpoint: bool


class AgencyPage(BaseModel):
    items: list[AgencyOut]
    next_cursor: str | None
