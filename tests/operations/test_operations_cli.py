"""`lienthong connector list|pause|resume|test`: the same services as the admin API, admin-logged
as the OS user."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from support.cli import lienthong
from support.delivery import set_endpoint
from support.hub import RECIPIENT, scalars
from support.processes import free_port
from support.receiver import Receiver

from app.config import Settings
from app.kit.db import Database
from app.models import AdminLogEntry, ConnectorPause


def test_pause_resume_list_and_test(env: Settings) -> None:
    paused = lienthong("connector", "pause", "qlvb-push", "--agency", RECIPIENT, "--reason", "bảo trì QLVB")
    assert paused.exit_code == 0, paused.output
    assert f"qlvb-push/{RECIPIENT} paused by cli:" in paused.output
    assert scalars(env.effective_database_url, select(ConnectorPause.scope)) == [f"qlvb-push/{RECIPIENT}"]
    listed = lienthong("connector", "list")
    assert listed.exit_code == 0 and "1 endpoint(s) paused" in listed.output
    assert lienthong("connector", "resume", "qlvb-push", "--agency", RECIPIENT).exit_code == 0
    assert scalars(env.effective_database_url, select(ConnectorPause.scope)) == []
    assert lienthong("connector", "resume", "qlvb-push", "--agency", RECIPIENT).exit_code == 1
    assert lienthong("connector", "pause", "fax").exit_code == 1

    async def point(url: str) -> None:
        database = Database(env.effective_database_url)
        try:
            await set_endpoint(database, RECIPIENT, url)
        finally:
            await database.dispose()

    with Receiver() as receiver:
        asyncio.run(point(receiver.url("/qlvb")))
        tested = lienthong("connector", "test", RECIPIENT)
        assert tested.exit_code == 0, tested.output
        assert "HTTP 200 in" in tested.output
    asyncio.run(point(f"http://127.0.0.1:{free_port()}/gone"))
    down = lienthong("connector", "test", RECIPIENT)
    assert down.exit_code == 1
    actions = scalars(env.effective_database_url, select(AdminLogEntry.action).order_by(AdminLogEntry.id))
    assert [a for a in actions if a.startswith("connector.")] == [
        "connector.pause",
        "connector.resume",
        "connector.test-endpoint",
        "connector.test-endpoint",
    ]
