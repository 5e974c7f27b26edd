"""`national-axis`: documents and status messages for agencies outside the province, sent to the
national document axis with sendEdoc (docs/axis-protocol.md).

The sealed bytes are sent as they are stored, in the name of the agency that sent them (`from`), as
messagetype `edoc` or `status`. The axis answers with its own DocId, which the delivery keeps so
that what the axis reports later can be matched. Whether a failure is worth another try is the
axis client's judgement (no answer, 5xx, ErrorCode 15/20/21: later; other ErrorCodes: never), and
the worker's retry schedule does the rest. Without LIENTHONG_AXIS_URL every delivery through this
connector fails at once with that reason, so nothing waits silently.
"""

from __future__ import annotations

from app.axis.client import AxisClient, AxisError
from app.config import Settings
from connectors.base import Job, Outcome, OutcomeKind


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
            doc_id = await self.client.send_edoc(
                job.payload, from_code=job.sender_code, message_type=job.message_type
            )
        except AxisError as error:
            kind = OutcomeKind.TRANSIENT if error.transient else OutcomeKind.PERMANENT
            return Outcome(
                kind, http_status=error.http_status, error=str(error), retry_after=error.retry_after
            )
        return Outcome(OutcomeKind.DELIVERED, http_status=200, remote_id=doc_id)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
