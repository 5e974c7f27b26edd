"""The HTTP edge of a real `lienthong serve` (uvicorn on h11), on SQLite and on PostgreSQL: what a test
client cannot send in-process — a lying Content-Length, raw CR in a header, header blocks too large,
a client that vanishes mid-body, a large body without a credential — and 200 concurrent bad requests
while /healthz keeps answering and a valid document is still accepted afterwards."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from support.processes import free_port, running, wait_for

from app.kit.db import Database

SAMPLE_BODY = (Path(__file__).resolve().parents[2] / "schemas" / "samples" / "sample.edxml").read_bytes()
NS = b'xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"'
RECEIVE_TIMEOUT = 2  # LIENTHONG_REQUEST_RECEIVE_TIMEOUT_SECONDS of the served hub

pytestmark = pytest.mark.slow


@dataclass
class Served:
    url: str
    port: int
    log: Path
    tokens: dict[str, str]
    database_url: str

    def auth(self, who: str = "SENDER_TOKEN") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def documents(self) -> int:
        async def count() -> int:
            from sqlalchemy import text

            database = Database(self.database_url)
            try:
                async with database.reading() as session:
                    return int((await session.execute(text("SELECT count(*) FROM documents"))).scalar_one())
            finally:
                await database.dispose()

        return asyncio.run(count())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("edge") / "var"
    if request.param == "sqlite":
        database_url = f"sqlite+aiosqlite:///{(data / 'lienthong.db').resolve()}"
    else:
        database_url = request.getfixturevalue("postgres_url")
        asyncio.run(_empty(database_url))
    port = free_port()
    lienthong = str(Path(sys.executable).parent / "lienthong")
    log = data.parent / "serve.log"
    with running(
        [
            "-c",
            f"import sys; sys.argv = ['{lienthong}', 'serve', '--port', '{port}']; "
            "from app.cli import main; main()",
        ],
        health_url=f"http://127.0.0.1:{port}/readyz",
        env={
            "LIENTHONG_DATA_DIR": str(data),
            "LIENTHONG_DATABASE_URL": database_url,
            "LIENTHONG_ENVIRONMENT": "development",
            "LIENTHONG_REQUEST_RECEIVE_TIMEOUT_SECONDS": str(RECEIVE_TIMEOUT),
        },
        log=log,
        timeout=90,
    ):
        tokens = dict(
            line.split("=", 1)
            for line in (data / "demo-credentials.env").read_text().splitlines()
            if "=" in line
        )
        yield Served(f"http://127.0.0.1:{port}", port, log, tokens, database_url)


async def _empty(url: str) -> None:
    """The session's PostgreSQL database without any rows: `serve` then prepares it as on a first start."""
    from sqlalchemy import text

    from app.kit.db import Base

    database = Database(url)
    try:
        async with database.transaction() as session:
            tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await database.dispose()


def raw(served: Served, data: bytes, *, timeout: float = 60.0) -> bytes:
    """Send raw bytes on one connection and read the answer's head and start of body."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=timeout) as connection:
        connection.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < 20:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def is_problem(answer: bytes) -> bool:
    return b"content-type: application/problem+json" in answer.lower()


def test_a_body_that_never_comes_is_a_408(served: Served) -> None:
    answer = raw(
        served,
        b"POST /api/v1/documents HTTP/1.1\r\nHost: hub\r\nContent-Type: application/xml\r\n"
        + b"Authorization: Bearer %s\r\n" % served.tokens["SENDER_TOKEN"].encode()
        + b"Content-Length: 100000\r\n\r\n<edXML",
    )
    assert status_of(answer) == 408 and is_problem(answer), answer
    assert b"Content-Length" in answer


def test_a_large_body_without_credential_is_refused_before_it_is_sent(served: Served) -> None:
    # 60 MB promised, 100 KB sent: the 401 comes without waiting for the rest.
    answer = raw(
        served,
        b"POST /api/v1/documents HTTP/1.1\r\nHost: hub\r\nContent-Type: application/xml\r\n"
        b"Content-Length: 60000000\r\n\r\n" + b"a" * 100_000,
        timeout=RECEIVE_TIMEOUT * 0.9,  # before the receive timeout could answer instead
    )
    assert status_of(answer) == 401 and is_problem(answer), answer


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"X-A: " + b"a" * 100_000 + b"\r\n", 431),  # one header over the byte limit
        (b"".join(b"X-%d: a\r\n" % i for i in range(1_000)), 431),  # too many headers
        (b"X-A: a\rInjected: b\r\n", 400),  # a bare CR inside a header: refused by the server
    ],
    ids=["100 KB header", "1000 headers", "CR in a header"],
)
def test_header_abuse_is_refused(served: Served, header: bytes, expected: int) -> None:
    answer = raw(served, b"GET /api/v1/agencies HTTP/1.1\r\nHost: hub\r\n" + header + b"\r\n")
    assert status_of(answer) == expected, answer
    if expected == 431:
        assert is_problem(answer)


def test_no_redirect_is_built_from_the_host_header(served: Served) -> None:
    response = httpx.get(
        f"{served.url}/api/v1/agencies/",
        headers={"Host": "evil.example", **served.auth()},
        follow_redirects=False,
    )
    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_client_that_disconnects_mid_body_is_one_log_line(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.port)) as connection:
        connection.sendall(
            b"POST /api/v1/documents HTTP/1.1\r\nHost: hub\r\nContent-Type: application/xml\r\n"
            + b"Authorization: Bearer %s\r\n" % served.tokens["SENDER_TOKEN"].encode()
            + b"Content-Length: 100000\r\n\r\n<edXML"
        )
    wait_for(lambda: b"client disconnected during POST /api/v1/documents" in served.log.read_bytes())
    assert b"Traceback" not in served.log.read_bytes()


BAD_BODIES = [
    b"",
    b"not xml",
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    SAMPLE_BODY.replace(NS, NS + b" " + b" ".join(b'a%d="x"' % i for i in range(20_000)), 1),
    SAMPLE_BODY.replace(NS, NS + b" " + b" ".join(b'xmlns:p%d="urn:%d"' % (i, i) for i in range(20_000)), 1),
    b"<a>" * 10_000,
]


def test_200_concurrent_bad_requests_while_healthz_answers(served: Served) -> None:
    documents_before = served.documents()

    async def attack() -> tuple[list[httpx.Response], list[httpx.Response]]:
        limits = httpx.Limits(max_connections=300, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=served.url, limits=limits, timeout=120) as client:
            bad = [
                client.post(
                    "/api/v1/documents" if i % 3 else "/api/v1/hub/verify",
                    content=BAD_BODIES[i % len(BAD_BODIES)],
                    headers={"Content-Type": "application/xml", **(served.auth() if i % 2 else {})},
                )
                for i in range(200)
            ]
            attack = asyncio.gather(*bad)
            health: list[httpx.Response] = []
            async with httpx.AsyncClient(base_url=served.url, timeout=30) as probe:
                while not attack.done():
                    health.append(await probe.get("/healthz"))
            return await attack, health

    answers, health = asyncio.run(attack())

    assert health and all(r.status_code == 200 for r in health)
    statuses = sorted({r.status_code for r in answers})
    assert all(400 <= s < 500 for s in statuses), statuses
    for response in answers:
        assert response.headers["content-type"].startswith("application/problem+json"), response.text[:200]
        assert response.json()["detail"]
    assert served.documents() == documents_before
    accepted = httpx.post(
        f"{served.url}/api/v1/documents",
        content=SAMPLE_BODY.replace(b"1234", b"%d" % served.port),
        headers={"Content-Type": "application/xml", **served.auth()},
        timeout=60,
    )
    assert accepted.status_code == 201, accepted.text
