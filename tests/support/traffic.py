"""Hand-built traffic for the report tests: documents, deliveries and status timelines written
straight into the tables with chosen times, so every indicator has an answer worked out by hand."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import count

from sqlalchemy import insert

from app.kit.clock import VIETNAM
from app.kit.db import Database, table_of
from app.kit.ids import new_id
from app.models import Delivery, Document, Payload, StatusReport

_numbers = count(1)


def vn(text: str) -> datetime:
    """A Vietnam local time "2026-11-19 09:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=VIETNAM)


@dataclass
class Traffic:
    """Rows to write, in order."""

    payloads: list[dict[str, object]] = field(default_factory=list)
    documents: list[dict[str, object]] = field(default_factory=list)
    deliveries: list[dict[str, object]] = field(default_factory=list)
    statuses: list[dict[str, object]] = field(default_factory=list)

    def _document(self, *, kind: str, sender: str, at: datetime, **values: object) -> str:
        number = next(_numbers)
        digest = hashlib.sha256(f"document {number}".encode()).hexdigest()
        self.payloads.append({"sha256": digest, "size": 1, "content": b"x", "created_at": at})
        document_id = new_id()
        self.documents.append(
            {
                "id": document_id,
                "kind": kind,
                "edxml_document_id": f"{sender},2026/11/01,{number}/TEST",
                "business_type": 0,
                "related_id": None,
                "sender_code": sender,
                "subject": "test",
                "code_number": str(number),
                "code_notation": "TEST",
                "received_at": at,
                "original_sha256": digest,
                "sealed_sha256": digest,
                "received_via": "api",
                "due_date": None,
                "steering_type": None,
                **values,
            }
        )
        return document_id

    def _deliver(self, document_id: str, recipient: str, state: str, at: datetime) -> str:
        delivery_id = new_id()
        self.deliveries.append(
            {
                "id": delivery_id,
                "document_id": document_id,
                "recipient_code": recipient,
                "connector": "inbox",
                "state": state,
                "created_at": at,
                "updated_at": at,
            }
        )
        return delivery_id

    def document(
        self,
        sender: str,
        recipient: str,
        at: str,
        *,
        state: str = "delivered",
        business_type: int = 0,
        related: str | None = None,
        via: str = "api",
        due: date | None = None,
        steering: int | None = None,
    ) -> tuple[str, str]:
        """A document to one recipient; returns (document id, delivery id)."""
        when = vn(at)
        document_id = self._document(
            kind="edoc",
            sender=sender,
            at=when,
            business_type=business_type,
            related_id=related,
            received_via=via,
            due_date=due,
            steering_type=steering,
        )
        return document_id, self._deliver(document_id, recipient, state, when)

    def status(
        self, document: tuple[str, str], reporter: str, original_sender: str, code: str, at: str
    ) -> None:
        """A status message from the recipient, on its timeline and carried back to the sender."""
        when = vn(at)
        message_id = self._document(kind="status", sender=reporter, at=when, related_id=document[0])
        self._deliver(message_id, original_sender, "delivered", when)
        self.statuses.append(
            {
                "document_id": document[0],
                "delivery_id": document[1],
                "message_id": message_id,
                "reporter_code": reporter,
                "status_code": code,
                "description": "",
                "reported_at": "",
                "received_at": when,
            }
        )

    async def write(self, database: Database) -> None:
        async with database.transaction() as session:
            for model, rows in (
                (Payload, self.payloads),
                (Document, self.documents),
                (Delivery, self.deliveries),
                (StatusReport, self.statuses),
            ):
                if rows:
                    await session.execute(insert(table_of(model)), rows)
