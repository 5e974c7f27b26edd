"""A database error or a crash in the middle of intake leaves no half-written document."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from support.hub import RECIPIENT, SENDER, Hub
from support.processes import free_port, running

from app.auth.service import create_credential
from app.bootstrap import prepare
from app.config import Settings
from app.edxml import DocumentSpec, build_document
from app.kit.db import Database
from app.models import Role

POISONED = "000.00.05.H62"  # the database refuses deliveries to this agency in these tests
TABLES = ("documents", "payloads", "deliveries", "delivery_events")


def two_recipient_document(number: str) -> bytes:
    from datetime import date

    return build_document(
        DocumentSpec(
            sender=SENDER,
            recipients=[RECIPIENT, POISONED],
            code_number=number,
            code_notation="VP-TH",
            subject="Kiểm tra tính toàn vẹn khi lưu",
            promulgation_date=date(2026, 11, 20),
            attachments=[("Tài liệu.pdf", "application/pdf", b"%PDF-1.4 atomicity")],
        )
    )


async def counts(database: Database) -> dict[str, int]:
    async with database.sessionmaker() as session:
        return {t: (await session.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in TABLES}


async def test_a_database_error_mid_transaction_stores_nothing(hub: Hub) -> None:
    async with hub.database.transaction() as session:
        if hub.database.is_postgres:
            await session.execute(
                text(
                    "CREATE FUNCTION refuse_poisoned() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.recipient_code = '{POISONED}' THEN RAISE EXCEPTION 'injected failure'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_poisoned BEFORE INSERT ON deliveries "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_poisoned()"
                )
            )
        else:
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_poisoned BEFORE INSERT ON deliveries "
                    f"WHEN NEW.recipient_code = '{POISONED}' "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                )
            )
    try:
        response = await hub.submit(two_recipient_document("901"))
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert "nothing was stored" in response.json()["detail"]
        assert "injected" not in response.text  # internals stay in the server log
        assert await counts(hub.database) == dict.fromkeys(TABLES, 0)
    finally:
        async with hub.database.transaction() as session:
            await session.execute(
                text("DROP TRIGGER refuse_poisoned" + (" ON deliveries" if hub.database.is_postgres else ""))
            )
            if hub.database.is_postgres:
                await session.execute(text("DROP FUNCTION refuse_poisoned()"))
    # The same document goes through once the fault is gone: nothing of the failed try is in the way.
    assert (await hub.submit(two_recipient_document("901"))).status_code == 201


@pytest.mark.slow
async def test_a_crash_mid_transaction_stores_nothing(settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A gateway process that dies (os._exit) while storing: on SQLite after inserting document and
    deliveries, before the log entries and the commit (tests/support/crash_midway.py)."""
    await prepare(settings, migrate=False)
    database = Database(settings.effective_database_url)
    async with database.transaction() as session:
        _, token = await create_credential(session, role=Role.AGENCY, agency_code=SENDER)
    port = free_port()
    env = {
        "LIENTHONG_DATABASE_URL": settings.effective_database_url,
        "LIENTHONG_DATA_DIR": str(settings.data_dir),
        "PYTHONPATH": "tests",
    }
    body = two_recipient_document("902")
    with running(
        ["tests/support/crash_midway.py", str(port)],
        health_url=f"http://127.0.0.1:{port}/healthz",
        env=env,
        log=tmp_path / "gateway.log",
    ) as process:
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.TransportError):
                await client.post(
                    f"http://127.0.0.1:{port}/api/v1/documents",
                    content=body,
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/xml"},
                )
        assert process.wait(timeout=10) == 17  # it died where it was meant to
    assert await counts(database) == dict.fromkeys(TABLES, 0)
    await database.dispose()


async def test_the_exchange_log_is_append_only(hub: Hub) -> None:
    assert (
        await hub.submit(two_recipient_document("903").replace(POISONED.encode(), b"000.00.06.H62"))
    ).status_code == 201
    for statement in ("UPDATE exchange_log SET event = 'forged'", "DELETE FROM exchange_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with hub.database.transaction() as session:
                await session.execute(text(statement))
    assert await hub.scalar("SELECT count(*) FROM exchange_log WHERE event = 'forged'") == 0
