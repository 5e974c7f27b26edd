"""`national-axis`: documents for agencies outside the province, through the national document axis.

Until the axis client is built, every delivery through it fails permanently with the reason, so
nothing waits silently for a connector that cannot deliver.
"""

from __future__ import annotations

from connectors.base import Job, Outcome, OutcomeKind


class NationalAxisConnector:
    name = "national-axis"
    needs_payload = False

    def __init__(self, axis_url: str) -> None:
        self.axis_url = axis_url

    async def deliver(self, job: Job) -> Outcome:
        if not self.axis_url:
            return Outcome(
                OutcomeKind.PERMANENT, error="the national axis is not configured (LIENTHONG_AXIS_URL)"
            )
        return Outcome(OutcomeKind.PERMANENT, error="this hub version cannot send to the national axis yet")

    async def close(self) -> None:
        return None
