"""Khóa ký: the hub's signing keys — the active one with its certificate and expiry, the retired
ones — rotating to a new key, and importing a CA-issued key (PEM key and certificate, or a PKCS#12
file). Both changes go through `app.sealing.service`, which admin-logs them with the person's name;
gateways seal with the new key within LIENTHONG_KEY_REFRESH_SECONDS."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from app.console.deps import Admin, Person
from app.console.rendering import redirect, render
from app.i18n import gettext as _
from app.kit.deps import DatabaseDep, ReadingSessionDep, SettingsDep
from app.sealing.endpoints import SigningKeyOut
from app.sealing.keys import KeyAlgorithm, KeyMaterialError, load_pem_identity, load_pkcs12_identity
from app.sealing.service import import_key, list_keys, rotate_key

router = APIRouter()
BACK = "/admin/keys"
EXPIRY_WARNING = timedelta(days=30)
MAX_PKCS12 = 1_000_000


@router.get("/keys", response_class=HTMLResponse)
async def keys_page(request: Request, principal: Person, session: ReadingSessionDep) -> HTMLResponse:
    rows = await list_keys(session)
    keys = [
        SigningKeyOut.of(row) for row in sorted(rows, key=lambda r: (not r.active, -r.created_at.timestamp()))
    ]
    return render(
        request,
        "pages/keys.html",
        principal=principal,
        page="keys",
        keys=keys,
        active=next((k for k in keys if k.active), None),
        warning_days=EXPIRY_WARNING.days,
        algorithms=[a.value for a in KeyAlgorithm],
    )


@router.post("/keys/rotate")
async def rotate_action(
    principal: Admin,
    database: DatabaseDep,
    settings: SettingsDep,
    algorithm: Annotated[KeyAlgorithm, Form()] = KeyAlgorithm.ECDSA_P256,
) -> RedirectResponse:
    async with database.transaction() as session:
        row = await rotate_key(session, settings, actor=principal.actor, algorithm=algorithm)
    return redirect(
        BACK,
        message=_("A new signing key is active ({fingerprint}).").format(
            fingerprint=row.fingerprint_sha256[:16]
        ),
    )


@router.post("/keys/import")
async def import_action(
    principal: Admin,
    database: DatabaseDep,
    settings: SettingsDep,
    key_pem: Annotated[str, Form(max_length=100_000)] = "",
    certificate_pem: Annotated[str, Form(max_length=100_000)] = "",
    chain_pem: Annotated[str, Form(max_length=500_000)] = "",
    pkcs12: UploadFile | None = None,
    passphrase: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    secret = passphrase.encode("utf-8") if passphrase else None
    try:
        if pkcs12 is not None and pkcs12.filename:
            if key_pem.strip() or certificate_pem.strip():
                return redirect(
                    BACK,
                    message=_("Give either a PKCS#12 file, or a PEM key with its certificate, not both."),
                    kind="error",
                )
            data = await pkcs12.read(MAX_PKCS12 + 1)
            if len(data) > MAX_PKCS12:
                return redirect(BACK, message=_("The file is too large."), kind="error")
            identity = load_pkcs12_identity(data, secret)
        elif key_pem.strip() and certificate_pem.strip():
            identity = load_pem_identity(
                key_pem.encode(), certificate_pem.encode(), chain_pem=chain_pem.encode(), passphrase=secret
            )
        else:
            return redirect(
                BACK, message=_("Give a PEM key with its certificate, or a PKCS#12 file."), kind="error"
            )
    except (KeyMaterialError, UnicodeError) as error:
        return redirect(
            BACK, message=_("The key cannot be imported: {reason}").format(reason=error), kind="error"
        )
    async with database.transaction() as session:
        row = await import_key(session, settings, identity=identity, actor=principal.actor)
    return redirect(
        BACK,
        message=_("The imported key is active ({fingerprint}).").format(
            fingerprint=row.fingerprint_sha256[:16]
        ),
    )
