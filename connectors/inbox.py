"""`inbox`: the recipient picks the document up itself (`GET /api/v1/inbox`, then acknowledges it)."""

from __future__ import annotations

from connectors.base import Job, Outcome, OutcomeKind


class InboxConnector:
    name = "inbox"
    needs_payload = False

    async def deliver(self, job: Job) -> Outcome:
        return Outcome(OutcomeKind.AWAITING_PICKUP)

    async def close(self) -> None:
        return None
