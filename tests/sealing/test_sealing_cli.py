"""`lienthong keys …`, `lienthong agency certificate …` and `lienthong verify FILE`."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import select
from support.hub import scalars
from support.signing import HUB_CODE, SENDER, edxml_document, identity_valid, xmlsec1_verifies
from typer.testing import CliRunner, Result

from app.config import get_settings
from app.kit.db import Database
from app.kit.secrets import load_master_key
from app.models import AdminLogEntry, Agency, SigningKey
from app.sealing.cli import agency_certificates_app, keys_app, verify
from app.sealing.keys import KeyAlgorithm, SigningIdentity
from app.sealing.service import load_active_sealer

cli = typer.Typer()
cli.add_typer(keys_app, name="keys")
cli.add_typer(agency_certificates_app, name="certificate")
cli.command("verify")(verify)


@pytest.fixture
def hub(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The CLI's environment: this test's database and data directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIENTHONG_DATABASE_URL", database.url)
    monkeypatch.setenv("LIENTHONG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LIENTHONG_HUB_CODE", HUB_CODE)
    monkeypatch.setenv("LIENTHONG_ENVIRONMENT", "development")
    monkeypatch.delenv("LIENTHONG_MASTER_KEY", raising=False)
    get_settings.cache_clear()
    yield database
    get_settings.cache_clear()


def run(*args: str | Path, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=env)


def query(database_url: str, statement: Any) -> list[Any]:
    return scalars(database_url, statement)


def seal_with_active_key(database_url: str, subject: str = "x") -> bytes:
    async def work() -> bytes:
        database = Database(database_url)
        try:
            async with database.sessionmaker() as session:
                sealer = await load_active_sealer(session, load_master_key(get_settings()))
        finally:
            await database.dispose()
        return sealer.seal(edxml_document(subject=subject), hub_code=HUB_CODE, at=datetime.now(UTC))

    return asyncio.run(work())


def test_keys_init_list_rotate_and_verify(hub: Database, tmp_path: Path) -> None:
    result = run("keys", "init")
    assert result.exit_code == 0, result.output
    assert "ecdsa-p256" in result.stdout and "active" in result.stdout
    refused = run("keys", "init")
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1
    assert "already has a signing key" in refused.stderr

    before = tmp_path / "before.edxml"
    before.write_bytes(seal_with_active_key(hub.url, "trước"))
    rotated = run("keys", "rotate", "--algorithm", "rsa-2048")
    assert rotated.exit_code == 0, rotated.output
    after = tmp_path / "after.edxml"
    after.write_bytes(seal_with_active_key(hub.url, "sau"))

    keys = query(hub.url, select(SigningKey).order_by(SigningKey.created_at))
    assert [(k.algorithm, k.active) for k in keys] == [("ecdsa-p256", False), ("rsa-2048", True)]
    listed = run("keys", "list", "--pem")
    assert listed.exit_code == 0
    assert keys[0].id in listed.stdout and keys[1].id in listed.stdout
    assert listed.stdout.count("BEGIN CERTIFICATE") == 2

    for path, key in ((before, keys[0]), (after, keys[1])):
        verified = run("verify", path)
        assert verified.exit_code == 0, verified.output
        assert key.id in verified.stdout

    tampered = tmp_path / "tampered.edxml"
    tampered.write_bytes(after.read_bytes().replace(b"sau", b"SAU"))
    refused = run("verify", tampered)
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert "digest mismatch" in refused.stderr

    actions = [(e.actor, e.action) for e in query(hub.url, select(AdminLogEntry).order_by(AdminLogEntry.id))]
    assert actions == [(f"cli:{getpass.getuser()}", "keys.init"), (f"cli:{getpass.getuser()}", "keys.rotate")]


def test_verify_offline_with_a_certificate_file(hub: Database, tmp_path: Path) -> None:
    assert run("keys", "init").exit_code == 0
    sealed = tmp_path / "sealed.edxml"
    sealed.write_bytes(seal_with_active_key(hub.url))
    (key,) = query(hub.url, select(SigningKey))
    certificate = tmp_path / "hub.pem"
    certificate.write_text(key.certificate_pem)
    result = run("verify", sealed, "--certificates", certificate)
    assert result.exit_code == 0, result.output
    assert xmlsec1_verifies(sealed.read_bytes(), certificate, tmp_path)
    other = tmp_path / "other.pem"
    other.write_text(identity_valid(-1, 1).certificate_pem())
    refused = run("verify", sealed, "--certificates", other)
    assert refused.exit_code == 1
    assert "not one of this hub's" in refused.stderr


def _write_identity(
    directory: Path, identity: SigningIdentity, passphrase: bytes | None
) -> tuple[Path, Path]:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    key = directory / "hub.key"
    key.write_bytes(
        identity.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )
    cert = directory / "hub.crt"
    cert.write_text(identity.certificate_pem())
    return key, cert


def test_keys_import_pem_with_passphrase_from_environment(hub: Database, tmp_path: Path) -> None:
    identity = identity_valid(-1, 365)
    key, cert = _write_identity(tmp_path, identity, b"bi mat")
    result = run(
        "keys",
        "import",
        "--key",
        key,
        "--cert",
        cert,
        "--passphrase-env",
        "HUB_PASS",
        env={"HUB_PASS": "bi mat"},
    )
    assert result.exit_code == 0, result.output
    (row,) = query(hub.url, select(SigningKey))
    assert (row.fingerprint_sha256, row.active, row.algorithm) == (identity.fingerprint, True, "rsa-2048")
    unset = run("keys", "import", "--key", key, "--cert", cert, "--passphrase-env", "NOT_SET_ANYWHERE")
    assert unset.exit_code == 1
    assert "NOT_SET_ANYWHERE is not set" in unset.stderr


def test_keys_import_prompts_for_a_passphrase_it_needs(hub: Database, tmp_path: Path) -> None:
    identity = identity_valid(-1, 365, KeyAlgorithm.ECDSA_P256)
    bundle = tmp_path / "hub.p12"
    bundle.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"hub",
            identity.private_key,
            identity.certificate,
            None,
            serialization.BestAvailableEncryption(b"pw12"),
        )
    )
    wrong = run("keys", "import", "--pkcs12", bundle, input="nope\n")
    assert wrong.exit_code == 1
    assert "PKCS#12" in wrong.stderr
    result = run("keys", "import", "--pkcs12", bundle, input="pw12\n")
    assert result.exit_code == 0, result.output
    assert "pw12" not in result.output
    (row,) = query(hub.url, select(SigningKey))
    assert row.fingerprint_sha256 == identity.fingerprint


def test_keys_import_usage_errors_exit_2(hub: Database, tmp_path: Path) -> None:
    key, cert = _write_identity(tmp_path, identity_valid(-1, 365), None)
    assert run("keys", "import", "--key", key).exit_code == 2
    assert run("keys", "import", "--key", key, "--cert", cert, "--pkcs12", cert).exit_code == 2
    assert run("keys", "init", "--algorithm", "dsa-1024").exit_code == 2


def test_agency_certificates_and_policy(
    hub: Database, tmp_path: Path, agency_identity: SigningIdentity
) -> None:
    pem = tmp_path / "agency.pem"
    pem.write_text(agency_identity.certificate_pem())
    added = run("certificate", "add", SENDER, pem)
    assert added.exit_code == 0, added.output
    assert agency_identity.fingerprint in added.stdout
    certificate_id = added.stdout.split()[0]
    again = run("certificate", "add", SENDER, pem)
    assert again.exit_code == 1 and "already registered" in again.stderr
    unknown = run("certificate", "add", "000.00.99.H62", pem)
    assert unknown.exit_code == 1 and "unknown agency" in unknown.stderr

    listed = run("certificate", "list", SENDER)
    assert listed.exit_code == 0 and certificate_id in listed.stdout and "active" in listed.stdout
    revoked = run("certificate", "revoke", certificate_id)
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout

    policy = run("certificate", "policy", SENDER, "required")
    assert policy.exit_code == 0, policy.output
    assert run("certificate", "policy", SENDER, "sometimes").exit_code == 2
    (agency,) = query(hub.url, select(Agency).where(Agency.code == SENDER))
    assert agency.signature_policy == "required"
    actions = [e.action for e in query(hub.url, select(AdminLogEntry).order_by(AdminLogEntry.id))]
    assert actions == ["agency.certificate.add", "agency.certificate.revoke", "agency.signature_policy"]
