"""`lienthong user …` and `lienthong delivery …`, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

from conftest import stored_delivery
from sqlalchemy import select
from support.cli import lienthong as run
from support.hub import scalars
from typer.testing import CliRunner, Result

from app.cli import cli
from app.config import Settings
from app.kit.db import Database
from app.models import AdminLogEntry, Delivery, User
from app.users.passwords import verify_password


def lienthong(*args: str, input: str | None = None) -> Result:
    """`lienthong` with text on its standard input (a password)."""
    if input is None:
        return run(*args)
    return CliRunner().invoke(cli, list(args), input=input)


def _stored(settings: Settings, **kwargs: object) -> str:
    async def work() -> str:
        database = Database(settings.effective_database_url)
        try:
            return await stored_delivery(database, **kwargs)  # type: ignore[arg-type]
        finally:
            await database.dispose()

    return asyncio.run(work())


def test_user_add_list_reset_disable(env: Settings) -> None:
    added = lienthong(
        "user", "add", "chi.le", "--role", "auditor", "--password-stdin", input="một mật khẩu dài\n"
    )
    assert added.exit_code == 0, added.output
    [user] = scalars(env.effective_database_url, select(User))
    assert user.role == "auditor" and verify_password(user.password_hash, "một mật khẩu dài")
    assert "một mật khẩu" not in user.password_hash and user.password_hash.startswith("$argon2id$")

    assert (
        lienthong("user", "add", "chi.le", "--role", "admin", "--password-stdin", input="x" * 12).exit_code
        == 1
    )
    weak = lienthong("user", "add", "dung", "--role", "admin", "--password-stdin", input="short\n")
    assert weak.exit_code == 1 and "at least 10" in weak.output
    assert (
        lienthong("user", "add", "Bad Name", "--role", "admin", "--password-stdin", input="x" * 12).exit_code
        == 1
    )
    prompted = lienthong(
        "user", "add", "em.pham", "--role", "admin", input="mật khẩu của em\nmật khẩu của em\n"
    )
    assert prompted.exit_code == 0, prompted.output

    listing = lienthong("user", "list")
    assert listing.exit_code == 0
    assert [line.split()[:3] for line in listing.output.splitlines()] == [
        ["chi.le", "auditor", "active"],
        ["em.pham", "admin", "active"],
    ]
    reset = lienthong("user", "reset-password", "chi.le", "--generate")
    assert reset.exit_code == 0
    new = reset.stdout.strip().splitlines()[-1]
    [user] = scalars(env.effective_database_url, select(User).where(User.name == "chi.le"))
    assert verify_password(user.password_hash, new) and user.session_epoch == 1
    assert lienthong("user", "disable", "chi.le").exit_code == 0
    assert "disabled" in lienthong("user", "list").output
    assert lienthong("user", "disable", "nobody").exit_code == 1
    actions = [
        e.action
        for e in scalars(env.effective_database_url, select(AdminLogEntry).order_by(AdminLogEntry.id))
        if e.action.startswith("user.")
    ]
    assert actions == ["user.add", "user.add", "user.password-reset", "user.disable"]


def test_delivery_list_show_requeue_discard(env: Settings) -> None:
    failed = _stored(env)
    queued = _stored(env, recipient="000.00.02.H62", connector="inbox", failed=False)
    listing = lienthong("delivery", "list", "--json")
    assert listing.exit_code == 0, listing.output
    rows = [json.loads(line) for line in listing.output.splitlines()]
    assert [r["id"] for r in rows] == [queued, failed]
    only_failed = lienthong("delivery", "list", "--state", "failed")
    assert only_failed.output.split()[0] == failed and len(only_failed.output.splitlines()) == 1
    assert lienthong("delivery", "list", "--connector", "inbox", "--json").output.count("\n") == 1
    assert lienthong("delivery", "list", "--recipient", "bad code").exit_code == 1

    shown = lienthong("delivery", "show", failed)
    assert json.loads(shown.output)["actions"] == ["requeue", "discard"]
    assert lienthong("delivery", "show", "no-such").exit_code == 1

    requeued = lienthong("delivery", "requeue", failed, queued, "--reason", "endpoint fixed")
    assert requeued.exit_code == 0, requeued.output
    assert f"{failed} requeued" in requeued.stdout and f"{queued} skipped" in requeued.stderr
    assert lienthong("delivery", "requeue", queued, "--reason", "x").exit_code == 1  # nothing changed

    assert lienthong("delivery", "discard", queued, "--reason", " ").exit_code == 1
    discarded = lienthong("delivery", "discard", failed, queued, "--reason", "sent twice")
    assert discarded.exit_code == 0, discarded.output
    states = {d.id: d.state for d in scalars(env.effective_database_url, select(Delivery))}
    assert states == {failed: "discarded", queued: "discarded"}
    log = scalars(
        env.effective_database_url, select(AdminLogEntry).where(AdminLogEntry.action.like("delivery.%"))
    )
    assert [(e.action, e.actor.startswith("cli:"), e.detail["reason"]) for e in log] == [
        ("delivery.requeue", True, "endpoint fixed"),
        ("delivery.requeue", True, "x"),  # an attempt that changed nothing is recorded too
        ("delivery.discard", True, "sent twice"),
    ]
