"""`?q=` of the agency search is text, not a LIKE pattern: `%` and `_` match only themselves."""

from __future__ import annotations

from support.hub import SENDER, Hub


async def test_wildcards_in_the_search_are_literal(hub: Hub) -> None:
    async def found(q: str) -> list[str]:
        response = await hub.client.get("/api/v1/agencies", params={"q": q}, headers=hub.auth(SENDER))
        assert response.status_code == 200, response.text
        return [agency["code"] for agency in response.json()["items"]]

    assert await found("H62")  # an ordinary search finds the demo directory
    assert await found("%") == []
    assert await found("_") == []
    assert await found("0%0") == []
    assert await found("\\") == []
