"""`lienthong keys …`, `lienthong agency certificate …` and `lienthong verify FILE`.

Exit 0 on success, 2 on bad usage, 1 on failure with a one-line reason on stderr. Passphrases are
never taken as arguments (they would show in `ps`): from an environment variable the operator names,
or typed at a prompt. Every change is written to the admin log as `cli:<OS user>`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Environment, Settings, get_settings
from app.i18n import format_date, format_datetime
from app.kit.cli import cli_actor, fail, run_in_transaction
from app.models import AgencyCertificate, SignaturePolicy, SigningKey
from app.sealing.keys import (
    KeyAlgorithm,
    KeyMaterialError,
    PassphraseRequired,
    SigningIdentity,
    certificate_fingerprint,
    load_certificates_pem,
    load_pem_identity,
    load_pkcs12_identity,
)
from app.sealing.seal import HubCertificate, verify_seal
from app.sealing.service import (
    hub_certificates,
    import_key,
    init_key,
    list_agency_certificates,
    list_keys,
    register_agency_certificate,
    revoke_agency_certificate,
    rotate_key,
    set_signature_policy,
)

keys_app = typer.Typer(help="The hub's signing keys (seal of the hub).", no_args_is_help=True)
agency_certificates_app = typer.Typer(
    help="Certificates agencies sign their documents with, and their signature policy.", no_args_is_help=True
)


def _describe(key: SigningKey) -> str:
    state = (
        "active" if key.active else f"retired {format_date(key.retired_at)}" if key.retired_at else "inactive"
    )
    return (
        f"{key.id}  {key.algorithm:<10}  {state:<18}  valid until {format_date(key.not_after)}  "
        f"sha256 {key.fingerprint_sha256}"
    )


AlgorithmOption = Annotated[KeyAlgorithm, typer.Option(help="key type to generate")]


SelfSignedOption = Annotated[
    bool,
    typer.Option(
        "--self-signed",
        help="yes, a self-signed certificate (required in production, which then also needs "
        "LIENTHONG_ALLOW_SELF_SIGNED_KEY=true to start)",
    ),
]
SELF_SIGNED_NOTE = (
    "self-signed certificate: receivers cannot tie this seal to a CA; production starts with it only "
    "when LIENTHONG_ALLOW_SELF_SIGNED_KEY=true (chứng thư tự ký)"
)


def _self_signed_on_purpose(self_signed: bool) -> None:
    if get_settings().environment is Environment.PRODUCTION and not self_signed:
        fail(
            "production: this makes a self-signed key; say so with --self-signed, or `keys import` a "
            "CA-issued key"
        )


@keys_app.command("init")
def keys_init(
    algorithm: AlgorithmOption = KeyAlgorithm.ECDSA_P256,
    force: Annotated[bool, typer.Option(help="create a new active key even if the hub has one")] = False,
    self_signed: SelfSignedOption = False,
) -> None:
    """Create the hub's signing key with a self-signed certificate (development; in production only
    with --self-signed)."""
    _self_signed_on_purpose(self_signed)
    key = run_in_transaction(
        lambda session, settings: init_key(
            session, settings, actor=cli_actor(), algorithm=algorithm, force=force
        )
    )
    typer.echo(SELF_SIGNED_NOTE, err=True)
    typer.echo(_describe(key))


def _passphrase(variable: str | None) -> bytes | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        fail(f"the environment variable {variable} is not set")
    return value.encode("utf-8")


def _prompt_passphrase() -> bytes:
    return str(typer.prompt("Passphrase", hide_input=True, default="", show_default=False)).encode("utf-8")


def _read_identity(
    key: Path | None, cert: Path | None, chain: Path | None, pkcs12: Path | None, passphrase_env: str | None
) -> SigningIdentity:
    if pkcs12 is not None:
        if key is not None or cert is not None or chain is not None:
            raise typer.BadParameter("give either --pkcs12, or --key with --cert [--chain], not both")
        passphrase = _passphrase(passphrase_env)
        if passphrase is None:
            passphrase = _prompt_passphrase() or None  # an empty answer: a PKCS#12 without passphrase
        return load_pkcs12_identity(pkcs12.read_bytes(), passphrase)
    if key is None or cert is None:
        raise typer.BadParameter("give --key and --cert (PEM), or --pkcs12")
    key_pem, cert_pem = key.read_bytes(), cert.read_bytes()
    chain_pem = chain.read_bytes() if chain is not None else b""
    passphrase = _passphrase(passphrase_env)
    try:
        return load_pem_identity(key_pem, cert_pem, chain_pem=chain_pem, passphrase=passphrase)
    except PassphraseRequired:
        return load_pem_identity(key_pem, cert_pem, chain_pem=chain_pem, passphrase=_prompt_passphrase())


@keys_app.command("import")
def keys_import(
    key: Annotated[
        Path | None, typer.Option("--key", exists=True, dir_okay=False, help="private key, PEM")
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option("--cert", exists=True, dir_okay=False, help="its certificate (and chain), PEM"),
    ] = None,
    chain: Annotated[
        Path | None,
        typer.Option("--chain", exists=True, dir_okay=False, help="intermediate CA certificates, PEM"),
    ] = None,
    pkcs12: Annotated[
        Path | None, typer.Option("--pkcs12", exists=True, dir_okay=False, help="key and chain, PKCS#12")
    ] = None,
    passphrase_env: Annotated[
        str | None,
        typer.Option("--passphrase-env", help="name of the environment variable holding the passphrase"),
    ] = None,
) -> None:
    """Import a key and certificate issued by a CA; it becomes the active signing key."""
    try:
        identity = _read_identity(key, cert, chain, pkcs12, passphrase_env)
    except KeyMaterialError as error:
        fail(str(error))
    row = run_in_transaction(
        lambda session, settings: import_key(session, settings, identity=identity, actor=cli_actor())
    )
    typer.echo(_describe(row))


@keys_app.command("rotate")
def keys_rotate(
    algorithm: AlgorithmOption = KeyAlgorithm.ECDSA_P256, self_signed: SelfSignedOption = False
) -> None:
    """Make a new self-signed key active; past certificates stay published while valid. Running
    gateways seal with the new key within LIENTHONG_KEY_REFRESH_SECONDS."""
    _self_signed_on_purpose(self_signed)
    row = run_in_transaction(
        lambda session, settings: rotate_key(session, settings, actor=cli_actor(), algorithm=algorithm)
    )
    typer.echo(SELF_SIGNED_NOTE, err=True)
    typer.echo(_describe(row))


@keys_app.command("list")
def keys_list(pem: Annotated[bool, typer.Option(help="also print each certificate")] = False) -> None:
    """Every signing key the hub has had."""

    async def work(session: AsyncSession, _settings: Settings) -> list[SigningKey]:
        return await list_keys(session)

    for row in run_in_transaction(work):
        typer.echo(_describe(row))
        if pem:
            typer.echo(row.certificate_pem + row.chain_pem, nl=False)


def verify(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="a sealed .edxml")],
    certificates: Annotated[
        Path | None,
        typer.Option(
            "--certificates",
            exists=True,
            dir_okay=False,
            help="PEM file of the hub's certificates: check offline, without the database",
        ),
    ] = None,
) -> None:
    """Check a document sealed by this hub; exit 0 only if the seal is valid."""
    data = file.read_bytes()
    if certificates is not None:
        try:
            loaded = load_certificates_pem(certificates.read_bytes())
        except KeyMaterialError as error:
            fail(f"{certificates}: {error}")
        known = [HubCertificate(certificate_fingerprint(c), c, certificate_fingerprint(c)) for c in loaded]
    else:

        async def work(session: AsyncSession, _settings: Settings) -> list[HubCertificate]:
            return await hub_certificates(session)

        known = run_in_transaction(work)
    check = verify_seal(data, known)
    if not check.valid:
        fail(f"{file}: seal not valid: {check.reason}")
    assert check.signed_at is not None
    typer.echo(
        f"{file}: valid seal by key {check.key_id} at {format_datetime(check.signed_at, seconds=True)} "
        f"({check.subject})"
    )


def _describe_certificate(row: AgencyCertificate) -> str:
    state = f"revoked {format_date(row.revoked_at)}" if row.revoked_at else "active"
    return (
        f"{row.id}  {row.agency_code}  {state:<18}  "
        f"valid {format_date(row.not_before)} to {format_date(row.not_after)}  "
        f"sha256 {row.fingerprint_sha256}"
    )


@agency_certificates_app.command("add")
def certificate_add(
    code: str,
    pem_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="certificate, PEM")
    ],
) -> None:
    """Register a certificate the agency signs its documents with."""
    pem = pem_file.read_text(encoding="ascii", errors="replace")
    row = run_in_transaction(
        lambda session, _settings: register_agency_certificate(
            session, agency_code=code, pem=pem, actor=cli_actor()
        )
    )
    typer.echo(_describe_certificate(row))


@agency_certificates_app.command("list")
def certificate_list(code: str) -> None:
    """The agency's registered certificates, revoked ones included."""

    async def work(session: AsyncSession, _settings: Settings) -> list[AgencyCertificate]:
        return await list_agency_certificates(session, code)

    for row in run_in_transaction(work):
        typer.echo(_describe_certificate(row))


@agency_certificates_app.command("revoke")
def certificate_revoke(certificate_id: str) -> None:
    """Stop accepting signatures made with a registered certificate."""
    row = run_in_transaction(
        lambda session, _settings: revoke_agency_certificate(
            session, certificate_id=certificate_id, actor=cli_actor()
        )
    )
    typer.echo(_describe_certificate(row))


@agency_certificates_app.command("policy")
def certificate_policy(code: str, policy: SignaturePolicy) -> None:
    """Whether the agency's documents must carry a valid standard XML signature."""

    async def work(session: AsyncSession, _settings: Settings) -> str:
        agency = await set_signature_policy(session, agency_code=code, policy=policy, actor=cli_actor())
        return agency.signature_policy

    typer.echo(f"{code}: signature {run_in_transaction(work)}")
