"""`national-axis`: documents and status messages for agencies outside the province, sent to the
national document axis with sendEdoc (docs/axis-protocol.md).

The sealed bytes are sent as they are stored, in the name of the agency that sent them (`from`), as
messagetype `edoc` or `status`. The axis answers with its own DocId, which the delivery keeps so
that what the axis reports later can be matched. Whether a failure is worth another try is the
axis client's judgement (no answer, 5xx, ErrorCode 15/20/21: later; other ErrorCodes: never), and
the worker's retry schedule does the rest. Without LIENTHONG_AXIS_URL every delivery through this
connector fails at once with that reason, so nothing waits silently.

sendEdoc carries no idempotency key: a send whose answer was lost (a timeout, a dropped connection)
may have left the package with the axis. So after such a send, and before any new attempt, the
connector asks the axis whether it already holds the package (`AxisClient.find_sent`: the same
DocumentId and the same bytes) and, if it does, records that DocId instead of sending it again.
"""

from __future__ import annotations

import logging

from app.axis.client import AxisClient, AxisError
from app.config import Settings
from connectors.base import Job, Outcome, OutcomeKind

log = logging.getLogger(__name__)


def axis_client(settings: Settings) -> AxisClient | None:
    """The hub's client of the national axis, if one is configured."""
    if not settings.axis_url:
        return None
    return AxisClient(
        settings.axis_url,
        settings.axis_system_id,
        settings.axis_secret,
        timeout=settings.axis_timeout_seconds,
        time_zone=settings.axis_zone,
    )


class NationalAxisConnector:
    name = "national-axis"
    needs_payload = True

    def __init__(self, client: AxisClient | None) -> None:
        self.client = client

    async def deliver(self, job: Job) -> Outcome:
        if self.client is None:
            return Outcome(
                OutcomeKind.PERMANENT, error="the national axis is not configured (LIENTHONG_AXIS_URL)"
            )
        assert job.payload is not None
        try:
            if job.attempt > 1 and (held := await self._held(job)) is not None:
                return held  # an earlier attempt's send reached the axis after all
            doc_id = await self.client.send_edoc(
                job.payload, from_code=job.sender_code, message_type=job.message_type
            )
        except AxisError as error:
            if error.transient and error.http_status is None:  # no answer: did the axis take it?
                try:
                    if (held := await self._held(job)) is not None:
                        return held
                except AxisError:
                    pass  # not known yet; the next attempt asks again before sending
            kind = OutcomeKind.TRANSIENT if error.transient else OutcomeKind.PERMANENT
            return Outcome(
                kind, http_status=error.http_status, error=str(error), retry_after=error.retry_after
            )
        return Outcome(OutcomeKind.DELIVERED, http_status=200, remote_id=doc_id)

    async def _held(self, job: Job) -> Outcome | None:
        """Delivered, if the axis already holds this very package (sent by an earlier attempt)."""
        assert self.client is not None and job.payload is not None
        try:
            doc_id = await self.client.find_sent(
                job.payload, document_id=job.edxml_document_id, message_type=job.message_type
            )
        except AxisError as error:
            if error.transient:
                raise
            # An axis that cannot look packages up by DocumentId: sending again is all there is.
            log.warning(
                "the axis cannot say whether it holds delivery %s (%s); sending it", job.delivery_id, error
            )
            return None
        if doc_id is None:
            return None
        return Outcome(
            OutcomeKind.DELIVERED,
            remote_id=doc_id,
            detail="the axis already held it from an earlier attempt whose answer was lost; not sent again",
        )

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
