"""What the console's tests share: people who log in, and logging in through the form."""

from __future__ import annotations

import hashlib
import re

import httpx

from app.kit.db import Database
from app.models import Role
from app.users.service import add_user

ADMIN, AUDITOR = "an.nguyen", "binh.tran"
PASSWORDS = {ADMIN: "mật-khẩu-quản-trị-1", AUDITOR: "mật-khẩu-kiểm-tra-2"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def add_people(database: Database) -> None:
    async with database.transaction() as session:
        await add_user(session, name=ADMIN, role=Role.ADMIN, password=PASSWORDS[ADMIN], actor="test")
        await add_user(session, name=AUDITOR, role=Role.AUDITOR, password=PASSWORDS[AUDITOR], actor="test")


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


async def log_in(client: httpx.AsyncClient, name: str, password: str | None = None) -> httpx.Response:
    """Log in through the form, as a browser does; returns the answer to the POST."""
    form = await client.get("/admin/login")
    return await client.post(
        "/admin/login",
        data={"username": name, "password": password or PASSWORDS[name], "csrf_token": csrf_of(form.text)},
    )


async def stored_delivery(
    database: Database,
    *,
    recipient: str = "000.00.00.G22",
    connector: str = "national-axis",
    failed: bool = True,
) -> str:
    """A document from the demo sender with one delivery, moved to `failed` (or left queued) through
    the state machine, without running a hub."""
    from app.delivery.service import Change, apply_changes
    from app.kit.clock import utcnow
    from app.kit.ids import new_id
    from app.models import Delivery, DeliveryState, Document, Payload

    content = f"<edXML>{new_id()}</edXML>".encode()
    digest = hashlib.sha256(content).hexdigest()
    async with database.transaction() as session:
        session.add(Payload(sha256=digest, size=len(content), content=content))
        await session.flush()
        document = Document(
            edxml_document_id=f"000.00.01.H62,2026/12/01,{new_id()[-12:]}/VP",
            sender_code="000.00.01.H62",
            subject="V/v thử nghiệm",
            code_number="1",
            code_notation="VP",
            original_sha256=digest,
            sealed_sha256=digest,
        )
        session.add(document)
        await session.flush()
        delivery = Delivery(document_id=document.id, recipient_code=recipient, connector=connector)
        session.add(delivery)
        await session.flush()
        if failed:
            now = utcnow()
            common = {"delivery_id": delivery.id, "document_id": document.id, "recipient_code": recipient}
            await apply_changes(
                session,
                [
                    Change(
                        **common,
                        from_state=DeliveryState.QUEUED,
                        to_state=DeliveryState.SENDING,
                        reason="t",
                        attempt_count=1,
                    )
                ],
                at=now,
            )
            await apply_changes(
                session,
                [
                    Change(
                        **common,
                        from_state=DeliveryState.SENDING,
                        to_state=DeliveryState.FAILED,
                        reason="t",
                        attempt_count=1,
                        last_error="HTTP 400",
                    )
                ],
                at=now,
            )
        return delivery.id
