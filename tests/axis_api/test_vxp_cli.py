"""`lienthong vxp-system …`: the secret is printed once and stored only encrypted; refusals in one line."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text
from support.cli import lienthong
from support.hub import RECIPIENT, scalars

from app.axis_api.systems import system_secret
from app.config import Settings
from app.kit.db import Database
from app.kit.secrets import load_master_key
from app.models import AdminLogEntry, VxpSystem


def test_create_prints_the_secret_once_and_stores_it_encrypted(env: Settings) -> None:
    result = lienthong("vxp-system", "create", "--agency", RECIPIENT, "--holder", "QLVB Sở Nội vụ")
    assert result.exit_code == 0, result.output
    system_id, secret = result.output.strip().splitlines()[-1].split(" ")
    assert system_id.startswith("vxp-") and len(secret) >= 40
    assert secret not in result.stderr

    [system] = scalars(env.effective_database_url, select(VxpSystem))
    assert (system.id, system.agency_code, system.holder) == (system_id, RECIPIENT, "QLVB Sở Nội vụ")
    raw = scalars(env.effective_database_url, select(text("*")).select_from(VxpSystem.__table__))
    assert secret not in repr(raw)
    assert secret.encode() not in system.secret_encrypted

    async def decrypted() -> str | None:
        database = Database(env.effective_database_url)
        try:
            async with database.reading() as session:
                found = await system_secret(session, load_master_key(env), system_id)
        finally:
            await database.dispose()
        return found[1] if found else None

    assert asyncio.run(decrypted()) == secret

    [entry] = scalars(
        env.effective_database_url, select(AdminLogEntry).where(AdminLogEntry.target == system_id)
    )
    assert (entry.action, entry.detail["agency"]) == ("vxp-system.create", RECIPIENT)
    assert entry.actor.startswith("cli:")
    assert secret not in repr(entry.detail)

    listed = lienthong("vxp-system", "list")
    assert listed.exit_code == 0 and system_id in listed.output and secret not in listed.output

    revoked = lienthong("vxp-system", "revoke", system_id)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert asyncio.run(decrypted()) is None
    actions = [
        e.action
        for e in scalars(
            env.effective_database_url,
            select(AdminLogEntry).where(AdminLogEntry.target == system_id).order_by(AdminLogEntry.id),
        )
    ]
    assert actions == ["vxp-system.create", "vxp-system.revoke"]


@pytest.mark.parametrize(
    "args",
    [
        ("vxp-system", "create", "--agency", "000.00.99.H62"),  # unknown agency
        ("vxp-system", "create", "--agency", "000.00.04.H62"),  # closed
        ("vxp-system", "revoke", "vxp-0000000000000000"),
    ],
)
def test_refusals_are_one_line_on_stderr(env: Settings, args: tuple[str, ...]) -> None:
    result = lienthong(*args)
    assert result.exit_code == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("lienthong: ")
    assert scalars(env.effective_database_url, select(VxpSystem)) == []


def test_strict_mode_and_allowed_sources_are_chosen_at_creation(env: Settings) -> None:
    result = lienthong(
        "vxp-system",
        "create",
        "--agency",
        RECIPIENT,
        "--strict",
        "--allow-from",
        "10.1.0.0/16",
        "--allow-from",
        "192.0.2.7",
    )
    assert result.exit_code == 0, result.output
    system_id = result.output.strip().splitlines()[-1].split(" ")[0]
    plain = lienthong("vxp-system", "create", "--agency", RECIPIENT)
    plain_id = plain.output.strip().splitlines()[-1].split(" ")[0]
    systems = {s.id: s for s in scalars(env.effective_database_url, select(VxpSystem))}
    assert (systems[system_id].strict, systems[system_id].allowed_sources) == (
        True,
        "10.1.0.0/16,192.0.2.7/32",
    )
    assert (systems[plain_id].strict, systems[plain_id].allowed_sources) == (False, None)
    listed = lienthong("vxp-system", "list").output
    assert f"{system_id}  {RECIPIENT}" in listed and "strict" in listed and "from 10.1.0.0/16" in listed
    [entry] = scalars(
        env.effective_database_url, select(AdminLogEntry).where(AdminLogEntry.target == system_id)
    )
    assert (entry.detail["strict"], entry.detail["allowed_sources"]) == (True, "10.1.0.0/16,192.0.2.7/32")

    refused = lienthong("vxp-system", "create", "--agency", RECIPIENT, "--allow-from", "intranet")
    assert refused.exit_code == 2 and "not an IP address" in refused.stderr
