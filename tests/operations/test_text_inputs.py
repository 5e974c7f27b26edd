"""Text the database could not store (NUL, a lone surrogate) is refused with a 400 by the admin API,
on PostgreSQL as on SQLite, instead of failing in the database."""

from __future__ import annotations

import json

import pytest
from support.hub import Hub


@pytest.mark.parametrize("bad", ["Sở\x00", "\ud863"], ids=["nul", "lone-surrogate"])
async def test_unstorable_text_is_a_bad_request(hub: Hub, bad: str) -> None:
    for method, path, body in [
        ("POST", "/api/v1/admin/agencies", {"code": "000.00.77.H62", "name": bad}),
        (
            "POST",
            "/api/v1/admin/routes",
            {"pattern": "000.00.77.H62", "connector": "inbox", "description": bad},
        ),
        ("POST", "/api/v1/admin/connectors/inbox/pause", {"reason": bad}),
        ("PUT", "/api/v1/admin/maintenance", {"on": True, "message": bad}),
    ]:
        answer = await hub.client.request(
            method,
            path,
            content=json.dumps(body),
            headers={"Content-Type": "application/json", **hub.auth("admin")},
        )
        assert answer.status_code == 400, (path, answer.text)
