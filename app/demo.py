"""The embedded demo: on the first development start, credentials for two demo agencies, an admin
and an auditor, written to one file so a newcomer can send the sample document with curl; and two
people for the console (an admin and an auditor) with their passwords in another."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from app.audit.log import record_admin_action
from app.auth.service import create_credential
from app.config import Settings
from app.kit.db import Database
from app.models import Credential, Role, User
from app.users.service import add_user, new_password

DEMO_PEOPLE = (("admin", Role.ADMIN), ("auditor", Role.AUDITOR))
SENDER = "000.00.01.H62"  # Văn phòng UBND tỉnh: the sender of schemas/samples/sample.edxml
RECIPIENT = "000.00.02.H62"  # one of its recipients
DEMO_HOLDER_PREFIX = "demo "  # the holder of every demo credential: production refuses them


def demo_credentials_file(settings: Settings) -> Path:
    return settings.data_dir / "demo-credentials.env"


def demo_people_file(settings: Settings) -> Path:
    return settings.data_dir / "demo-people.env"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


async def create_demo_people(settings: Settings) -> Path | None:
    """A demo admin and a demo auditor for the console, if the hub has no person yet; their
    passwords are written (once, mode 0600) to the returned file."""
    database = Database(settings.effective_database_url)
    try:
        async with database.transaction() as session:
            if await session.scalar(select(User.id).limit(1)) is not None:
                return None
            lines = []
            for name, role in DEMO_PEOPLE:
                password = new_password()
                await add_user(session, name=name, role=role, password=password, actor="demo")
                lines.append(f"{name.upper()}_PASSWORD={password}")
    finally:
        await database.dispose()
    path = demo_people_file(settings)
    _write_private(path, "# Demo people of the console (development only).\n" + "\n".join(lines) + "\n")
    return path


async def create_demo_credentials(settings: Settings) -> Path | None:
    """Issue the demo credentials if the hub has none yet (and the console's demo people); returns
    the file the credentials were written to."""
    await create_demo_people(settings)
    database = Database(settings.effective_database_url)
    try:
        async with database.transaction() as session:
            if await session.scalar(select(Credential.id).limit(1)) is not None:
                return None
            lines = []
            for variable, role, agency in (
                ("SENDER_TOKEN", Role.AGENCY, SENDER),
                ("RECIPIENT_TOKEN", Role.AGENCY, RECIPIENT),
                ("ADMIN_TOKEN", Role.ADMIN, None),
                ("AUDITOR_TOKEN", Role.AUDITOR, None),
            ):
                credential, token = await create_credential(
                    session, role=role, agency_code=agency, holder=f"{DEMO_HOLDER_PREFIX}{variable.lower()}"
                )
                record_admin_action(
                    session, actor="demo", action="credential.create", target=credential.id, role=role.value
                )
                lines.append(f"{variable}={token}")
    finally:
        await database.dispose()
    path = demo_credentials_file(settings)
    _write_private(
        path,
        "# Demo credentials of the embedded hub (development only). Shown once.\n" + "\n".join(lines) + "\n",
    )
    return path


def how_to_send(settings: Settings, host: str, port: int) -> str:
    credentials = demo_credentials_file(settings)
    base = f"http://{host}:{port}"
    return f"""
Liên Thông hub on {base}  (API docs: {base}/docs)
Demo credentials: {credentials}
{_console(settings, base)}
Send the sample document from {SENDER} to {RECIPIENT} and 000.00.03.H62:
  set -a; . {credentials}; set +a
  curl -s -X POST {base}/api/v1/documents \\
       -H "Authorization: Bearer $SENDER_TOKEN" -H 'Content-Type: application/xml' \\
       --data-binary @schemas/samples/sample.edxml
Read it back as a recipient (use the "id" of the receipt):
  curl -s -H "Authorization: Bearer $RECIPIENT_TOKEN" {base}/api/v1/documents/<id>
{_through_the_axis(settings, base)}"""


def _through_the_axis(settings: Settings, base: str) -> str:
    if not settings.axis_url:
        return ""
    return f"""
Send a document to Văn phòng Chính phủ (000.00.00.G22) through the national axis ({settings.axis_url}):
  curl -s -X POST {base}/api/v1/documents \\
       -H "Authorization: Bearer $SENDER_TOKEN" -H 'Content-Type: application/xml' \\
       --data-binary @schemas/samples/to-g22.edxml
and see it arrive on the axis: curl -s {settings.axis_url}/_sim/packages
"""


def _console(settings: Settings, base: str) -> str:
    path = demo_people_file(settings)
    if not path.exists():
        return ""
    passwords = dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    people = "\n".join(
        f"  {name:<8} password {passwords.get(f'{name.upper()}_PASSWORD', '?')}  ({role.value})"
        for name, role in DEMO_PEOPLE
    )
    return f"""
Console (Vietnamese; English at the top right): {base}/admin  — log in as
{people}
(passwords in {path}; more people: lienthong user add NAME --role admin|auditor)
"""
