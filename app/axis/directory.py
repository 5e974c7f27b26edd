"""Directory sync: the national axis's agency list (getAgenciesList) into the hub's directory.

The axis is the authority for the codes it lists: their names, parents, old codes and e-mail (when
it lists one) are taken from it, and a code it listed before and lists no more is closed (with its
successor when a listed code names it as its old code). What the province decides for itself is never touched:
endpoints, timeouts, signature policies, suspensions, and agencies the axis never listed (local
units the province added). An empty or unreadable list changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from app.agencies.codes import AgencyCode, InvalidAgencyCode
from app.audit.log import record_admin_action
from app.axis.client import AxisAgency
from app.kit.db import Database
from app.models import Agency, AgencySource, AgencyStatus

log = logging.getLogger(__name__)

ACTOR = "axis:directory-sync"
NAME_LENGTH = Agency.name.type.length or 300
EMAIL_LENGTH = Agency.email.type.length or 100


@dataclass(frozen=True, slots=True)
class SyncReport:
    listed: int
    added: int
    updated: int
    closed: int
    reopened: int
    skipped: list[str]  # rows whose code is not a valid agency code, with the reason


@dataclass(frozen=True, slots=True)
class _Row:
    code: str
    name: str
    parent_code: str | None
    email: str | None
    old_code: str | None


async def sync_directory(database: Database, rows: Sequence[AxisAgency], *, actor: str = ACTOR) -> SyncReport:
    """Bring the directory in step with the axis's list; one transaction, one admin-log entry."""
    if not rows:
        raise ValueError("the axis listed no agencies; the directory was left as it is")
    listed, skipped = _readable(rows)
    if not listed:
        raise ValueError(
            f"none of the {len(rows)} agencies the axis listed has a valid code; "
            "the directory was left as it is"
        )
    successors = {row.old_code: row.code for row in listed.values() if row.old_code}
    added = updated = closed = reopened = 0
    async with database.transaction() as session:
        known = {agency.code: agency for agency in await session.scalars(select(Agency))}
        for row in listed.values():
            agency = known.get(row.code)
            if agency is None:
                session.add(
                    Agency(
                        code=row.code,
                        name=row.name,
                        parent_code=row.parent_code,
                        email=row.email,
                        old_code=row.old_code,
                        status=AgencyStatus.ACTIVE,
                        source=AgencySource.AXIS,
                    )
                )
                added += 1
                continue
            before = _synced_fields(agency)
            agency.name, agency.parent_code, agency.old_code = row.name, row.parent_code, row.old_code
            agency.email = row.email or agency.email
            agency.source = AgencySource.AXIS
            if agency.status == AgencyStatus.CLOSED:
                agency.status, agency.successor_code = AgencyStatus.ACTIVE, None
                reopened += 1
            updated += before != _synced_fields(agency)
        for code, agency in known.items():
            gone = agency.source == AgencySource.AXIS or code in successors
            if code in listed or not gone or agency.status == AgencyStatus.CLOSED:
                continue
            agency.status = AgencyStatus.CLOSED
            agency.successor_code = successors.get(code)
            closed += 1
        report = SyncReport(len(listed), added, updated, closed, reopened, skipped)
        record_admin_action(
            session,
            actor=actor,
            action="directory.sync",
            listed=report.listed,
            added=added,
            updated=updated,
            closed=closed,
            reopened=reopened,
            skipped=skipped[:50],
        )
    return report


def _synced_fields(agency: Agency) -> tuple[object, ...]:
    """What a sync may change on a known agency."""
    return (agency.name, agency.parent_code, agency.email, agency.old_code, agency.source, agency.status)


def _readable(rows: Sequence[AxisAgency]) -> tuple[dict[str, _Row], list[str]]:
    """The rows with valid codes (parents resolved through the axis's ids), and what was skipped."""
    code_of_id = {row.id: row.code.strip() for row in rows}
    listed: dict[str, _Row] = {}
    skipped: list[str] = []
    for row in rows:
        code = row.code.strip()
        if not _valid(code):
            skipped.append(f"{row.code!r}: not a valid agency code")
            continue
        if code in listed:
            skipped.append(f"{code}: listed twice; the first row was kept")
            continue
        parent = code_of_id.get(row.pid) if row.pid else None
        old = row.old_code.strip() or None
        email = row.mail.strip() or None
        listed[code] = _Row(
            code=code,
            name=(row.name.strip() or code)[:NAME_LENGTH],  # the directory keeps the first 300 characters
            parent_code=parent if parent and parent != code and _valid(parent) else None,
            email=email if email and len(email) <= EMAIL_LENGTH else None,
            old_code=old if old and _valid(old) else None,
        )
    if skipped:
        log.warning("directory sync skipped %d rows", len(skipped))
    return listed, skipped


def _valid(code: str) -> bool:
    try:
        AgencyCode.parse(code)
    except InvalidAgencyCode:
        return False
    return True
