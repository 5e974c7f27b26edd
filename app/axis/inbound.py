"""Inbound from the national axis: what it holds for the province's agencies comes in through the
same intake pipeline as a local submission, and the directory is kept in step with the axis's.

Each round, under a lease so that only one hub replica polls at a time: list the waiting documents,
then the waiting status messages; fetch each one, run it through the intake (validated, sealed,
routed to the local recipients; the same bytes again are recognised as a replay) and only once it
is stored acknowledge it to the axis with `done`. A message the hub refuses is acknowledged `fail`
with the reason and logged as rejected. Anything else — the axis or the database not answering —
leaves the package unacknowledged: the axis lists it again next round, so nothing is lost and
nothing is acknowledged before it is safely stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from app.axis.client import AxisClient, AxisError, ReceivedPackage
from app.axis.directory import sync_directory
from app.axis.protocol import AckStatus, MessageType
from app.config import Settings
from app.documents.service import Submitter, record_rejection, record_replay, submit_document
from app.kit import lease
from app.kit.clock import utcnow
from app.kit.cpu import set_caller
from app.kit.db import Database
from app.kit.errors import HubError
from app.models import Channel, Document
from app.sealing.seal import Sealer
from app.statuses.service import submit_status

log = logging.getLogger(__name__)

LEASE = "axis-inbound"
MAX_REASON = 1000  # characters of a refusal's reason sent back to the axis


@dataclass
class AxisState:
    """What `/readyz` tells operators about the axis, as this process last saw it."""

    polling_here: bool = False  # this process holds the lease (only one replica polls)
    last_answer_at: datetime | None = None  # when the axis last answered a listing
    last_problem: str | None = None  # the last failure to reach the axis or to take a package in
    last_problem_at: datetime | None = None

    def problem(self, text: str) -> None:
        self.last_problem, self.last_problem_at = text, utcnow()

    def report(self) -> dict[str, object]:
        return {
            "polling": "this process" if self.polling_here else "another process (or not yet)",
            "last_answer_at": _iso(self.last_answer_at),
            "last_problem": self.last_problem,
            "last_problem_at": _iso(self.last_problem_at),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass
class RoundReport:
    """What one polling round did."""

    stored: list[str] = field(default_factory=list)  # axis DocIds taken in (or recognised again)
    refused: list[str] = field(default_factory=list)  # acknowledged `fail`
    left: list[str] = field(default_factory=list)  # not acknowledged: tried again next round
    held: bool = True  # False: another replica holds the lease, nothing was done


class AxisInbound:
    """The inbound poller and the directory sync of one gateway process."""

    def __init__(
        self,
        database: Database,
        client: AxisClient,
        settings: Settings,
        *,
        sealer: Callable[[], Sealer],
        on_stored: Callable[[], None],
    ) -> None:
        self.database = database
        self.client = client
        self.settings = settings
        self.sealer = sealer  # the active sealer (it follows key rotations)
        self.on_stored = on_stored
        self.holder = lease.holder_name()
        self.state = AxisState()
        self._next_directory_sync = 0.0

    async def run(self) -> None:
        """Poll every LIENTHONG_AXIS_POLL_SECONDS until cancelled; a failed round is logged and the
        next one comes at its time."""
        set_caller("national-axis")  # this task's CPU-heavy steps queue as the axis's own
        try:
            while True:
                try:
                    await self.scheduled_round()
                except Exception as error:
                    self.state.problem(f"the round failed: {error!r}")
                    log.exception("axis inbound: the round failed; trying again in %.0f s", self.interval)
                await asyncio.sleep(self.interval)
        finally:
            await self.release()

    async def release(self) -> None:
        """Let another replica poll at once (on a clean stop)."""
        await lease.release(self.database, LEASE, self.holder)

    @property
    def interval(self) -> float:
        return self.settings.axis_poll_seconds

    async def scheduled_round(self) -> RoundReport:
        """What `run` does each interval: the directory sync when it is due, then a polling round."""
        if time.monotonic() >= self._next_directory_sync and await self._hold():
            await self._sync_directory()  # whatever happens to it, the polling goes on
        return await self.poll_once()

    async def poll_once(self) -> RoundReport:
        """One polling round: documents, then status messages, each taken in and acknowledged."""
        report = RoundReport()
        self.state.polling_here = await self._hold()
        if not self.state.polling_here:
            report.held = False
            return report
        for message_type in (MessageType.EDOC, MessageType.STATUS):
            try:
                packages = await self.client.received(message_type)
            except AxisError as error:
                self.state.problem(str(error))
                log.warning("axis inbound: cannot list %s packages: %s", message_type, error)
                continue
            self.state.last_answer_at = utcnow()
            for package in packages:
                if not await self._hold():
                    return report  # another replica took over (this one was too slow)
                await self._take(package, report)
        return report

    async def _hold(self) -> bool:
        # Long enough to outlast a slow round, short enough that a dead replica is replaced soon.
        return await lease.hold(
            self.database,
            LEASE,
            self.holder,
            seconds=max(3 * self.interval, 2 * self.settings.axis_timeout_seconds),
        )

    async def _take(self, package: ReceivedPackage, report: RoundReport) -> None:
        try:
            content = await self.client.get_edoc(package.doc_id)
        except AxisError as error:
            self.state.problem(str(error))
            log.warning("axis inbound: cannot fetch %s: %s", package.doc_id, error)
            report.left.append(package.doc_id)
            return
        submitter = Submitter(Channel.AXIS, None, external_id=package.doc_id)
        if (echo := await self._own_message(content)) is not None:
            # What this hub sent to the axis, handed back for a local recipient of the same message:
            # the hub delivered to those itself. Taken as a repeat, not refused.
            await record_replay(self.database, submitter, echo)
            await self._acknowledge(package, AckStatus.DONE, "", report.stored, report)
            return
        submit = submit_status if package.message_type == MessageType.STATUS else submit_document
        try:
            result = await submit(
                self.database, self.sealer(), submitter, content, hub_code=self.settings.hub_code
            )
        except HubError as error:
            if error.status >= 500:
                report.left.append(package.doc_id)
                return
            await record_rejection(self.database, submitter, content, error)
            await self._acknowledge(package, AckStatus.FAIL, _reason(error), report.refused, report)
            return
        if result.created:
            self.on_stored()
        await self._acknowledge(package, AckStatus.DONE, "", report.stored, report)

    async def _own_message(self, content: bytes) -> Document | None:
        """The message whose sealed bytes these are, if this hub sealed them."""
        async with self.database.reading() as session:
            found: Document | None = await session.scalar(
                select(Document).where(Document.sealed_sha256 == hashlib.sha256(content).hexdigest()).limit(1)
            )
        return found

    async def _acknowledge(
        self, package: ReceivedPackage, status: str, description: str, into: list[str], report: RoundReport
    ) -> None:
        try:
            await self.client.update_status(package.doc_id, status, description)
        except AxisError as error:
            # Stored but not acknowledged: the axis lists it again and the intake recognises it.
            self.state.problem(str(error))
            log.warning("axis inbound: cannot acknowledge %s as %s: %s", package.doc_id, status, error)
            report.left.append(package.doc_id)
            return
        into.append(package.doc_id)

    async def _sync_directory(self) -> None:
        try:
            rows = await self.client.agencies()
            outcome = await sync_directory(self.database, rows)
        except (AxisError, ValueError) as error:
            self.state.problem(f"directory sync: {error}")
            log.warning("axis inbound: directory sync failed: %s", error)
            return
        except Exception as error:
            self.state.problem(f"directory sync: {error!r}")
            log.exception("axis inbound: directory sync failed")
            return
        self._next_directory_sync = time.monotonic() + self.settings.axis_directory_sync_seconds
        log.info(
            "directory sync: %d listed, %d added, %d updated, %d closed, %d reopened",
            outcome.listed,
            outcome.added,
            outcome.updated,
            outcome.closed,
            outcome.reopened,
        )


def _reason(error: HubError) -> str:
    """The refusal as one line for the axis: the summary, then each problem's path and message."""
    parts = [error.detail, *(f"{p.path}: {p.message} ({p.code})" for p in error.errors)]
    return "; ".join(parts)[:MAX_REASON]
