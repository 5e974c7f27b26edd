"""Cơ quan: the directory — search, add an agency, edit one's name, endpoint, timeout and e-mail,
suspend, reactivate, close with a successor, set its signature policy, register (pasted PEM or an
uploaded .pem/.crt file) and revoke the certificates it signs with — and importing a directory file:
the file is read and checked, the page shows what would be added and changed, and nothing is written
until the operator confirms. Every change goes through `app.agencies.service` (or
`app.sealing.service` for the signature policy and certificates), which admin-logs it with the
person's name."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from app.agencies.directory_file import DirectoryFileError, read_directory_file
from app.agencies.service import (
    create_agency,
    get_agency,
    import_directory,
    preview_import,
    search_agencies,
    set_agency_status,
    update_agency,
)
from app.console.deps import Admin, Person
from app.console.forms import optional_float, refusal
from app.console.rendering import redirect, render
from app.i18n import gettext as _
from app.kit.deps import DatabaseDep, ReadingSessionDep, SettingsDep
from app.kit.errors import HubError
from app.models import AgencyStatus, SignaturePolicy
from app.sealing.endpoints import AgencyCertificateOut
from app.sealing.service import (
    list_agency_certificates,
    register_agency_certificate,
    revoke_agency_certificate,
    set_signature_policy,
)

router = APIRouter()
BACK = "/admin/agencies"
PAGE_SIZE = 50
MAX_SEARCH = 100
MAX_CERTIFICATE = 100_000


def _agency_path(code: str) -> str:
    return f"{BACK}/{quote(code, safe='')}"


@router.get("/agencies", response_class=HTMLResponse)
async def agencies_page(
    request: Request,
    principal: Person,
    session: ReadingSessionDep,
    q: str = "",
    status: str = "",
    after: str = "",
) -> HTMLResponse:
    status = status if status in {s.value for s in AgencyStatus} else ""
    found = list(
        await search_agencies(
            session,
            q=q[:MAX_SEARCH] or None,
            status=status or None,
            after=after[:50] or None,
            limit=PAGE_SIZE + 1,
        )
    )
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    query = urlencode({k: v for k, v in {"q": q, "status": status}.items() if v})
    return render(
        request,
        "pages/agencies.html",
        principal=principal,
        page="agencies",
        agencies=found,
        q=q,
        status=status,
        statuses=[s.value for s in AgencyStatus],
        filter_query=query,
        next_after=found[-1].code if more and found else None,
        first_page=not after,
    )


@router.post("/agencies")
async def add_action(
    principal: Admin,
    database: DatabaseDep,
    code: Annotated[str, Form(max_length=50)],
    name: Annotated[str, Form(max_length=300)],
    endpoint: Annotated[str, Form(max_length=500)] = "",
    endpoint_timeout_seconds: Annotated[str, Form(max_length=20)] = "",
    email: Annotated[str, Form(max_length=100)] = "",
) -> RedirectResponse:
    try:
        timeout = _timeout(endpoint_timeout_seconds)
        async with database.transaction() as session:
            agency = await create_agency(
                session,
                code=code,
                name=name,
                actor=principal.actor,
                endpoint=endpoint or None,
                endpoint_timeout_seconds=timeout,
                email=email or None,
            )
    except HubError as error:
        return redirect(BACK, message=refusal(error), kind="error")
    except ValueError:
        return redirect(BACK, message=_("The timeout must be a number of seconds."), kind="error")
    return redirect(
        _agency_path(agency.code), message=_("{code} added to the directory.").format(code=agency.code)
    )


def _timeout(text: str) -> float | None:
    value = optional_float(text)
    if isinstance(value, str):
        raise ValueError(value)
    return value


async def _read_upload(settings: SettingsDep, upload: UploadFile | None, content: str) -> bytes:
    if upload is not None and upload.filename:
        return await upload.read(settings.max_body_bytes + 1)
    return content.encode("utf-8")


@router.post("/agencies/import", response_model=None)
async def import_action(
    request: Request,
    principal: Admin,
    database: DatabaseDep,
    settings: SettingsDep,
    file: UploadFile | None = None,
    content: Annotated[str, Form(max_length=5_000_000)] = "",
    confirm: Annotated[bool, Form()] = False,
) -> HTMLResponse | RedirectResponse:
    """Without `confirm`: read the file and show what it would change (nothing is written). With it
    (the preview's own form, carrying the file's text): apply it."""
    data = await _read_upload(settings, file, content)
    if not data.strip():
        return redirect(BACK, message=_("Choose a directory file (CSV or JSON)."), kind="error")
    if len(data) > settings.max_body_bytes:
        return redirect(BACK, message=_("The file is too large."), kind="error")
    try:
        records = read_directory_file(data)
    except DirectoryFileError as error:
        problems = [error.describe(p) for p in error.problems]
        return render(
            request,
            "pages/agencies_import.html",
            principal=principal,
            page="agencies",
            problems=problems,
            preview=None,
            content="",
        )
    if confirm:
        async with database.transaction() as session:
            added, updated = await import_directory(
                session, records, actor=principal.actor, source="console upload"
            )
        return redirect(
            BACK,
            message=_("Directory imported: {added} added, {updated} changed.").format(
                added=added, updated=updated
            ),
        )
    async with database.reading() as session:
        preview = await preview_import(session, records)
    return render(
        request,
        "pages/agencies_import.html",
        principal=principal,
        page="agencies",
        problems=[],
        preview=preview,
        content=data.decode("utf-8-sig"),
    )


@router.get("/agencies/{code}", response_class=HTMLResponse)
async def agency_page(
    request: Request, code: str, principal: Person, session: ReadingSessionDep
) -> HTMLResponse:
    agency = await get_agency(session, code)
    certificates = [AgencyCertificateOut.of(row) for row in await list_agency_certificates(session, code)]
    return render(
        request,
        "pages/agency.html",
        principal=principal,
        page="agencies",
        agency=agency,
        policies=[p.value for p in SignaturePolicy],
        certificates=certificates,
    )


@router.post("/agencies/{code}")
async def update_action(
    code: str,
    principal: Admin,
    database: DatabaseDep,
    name: Annotated[str, Form(max_length=300)],
    endpoint: Annotated[str, Form(max_length=500)] = "",
    endpoint_timeout_seconds: Annotated[str, Form(max_length=20)] = "",
    email: Annotated[str, Form(max_length=100)] = "",
) -> RedirectResponse:
    back = _agency_path(code)
    try:
        timeout = _timeout(endpoint_timeout_seconds)
        async with database.transaction() as session:
            await update_agency(
                session,
                code=code,
                actor=principal.actor,
                name=name,
                endpoint=endpoint or None,
                endpoint_timeout_seconds=timeout,
                email=email or None,
            )
    except HubError as error:
        if error.status == 404:
            raise
        return redirect(back, message=refusal(error), kind="error")
    except ValueError:
        return redirect(back, message=_("The timeout must be a number of seconds."), kind="error")
    return redirect(back, message=_("{code} saved.").format(code=code))


@router.post("/agencies/{code}/status")
async def status_action(
    code: str,
    principal: Admin,
    database: DatabaseDep,
    status: Annotated[AgencyStatus, Form()],
    successor_code: Annotated[str, Form(max_length=50)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    back = _agency_path(code)
    try:
        async with database.transaction() as session:
            await set_agency_status(
                session,
                code=code,
                status=status,
                actor=principal.actor,
                successor_code=successor_code.strip() or None,
                reason=reason.strip(),
            )
    except HubError as error:
        if error.status == 404 and not successor_code.strip():
            raise
        return redirect(back, message=refusal(error), kind="error")
    texts = {
        AgencyStatus.ACTIVE: _("{code} is active again."),
        AgencyStatus.SUSPENDED: _("{code} is suspended."),
        AgencyStatus.CLOSED: _("{code} is closed."),
    }
    return redirect(back, message=texts[status].format(code=code))


@router.post("/agencies/{code}/signature-policy")
async def policy_action(
    code: str, principal: Admin, database: DatabaseDep, policy: Annotated[SignaturePolicy, Form()]
) -> RedirectResponse:
    async with database.transaction() as session:
        await set_signature_policy(session, agency_code=code, policy=policy, actor=principal.actor)
    if policy is SignaturePolicy.REQUIRED:
        text = _("{code}'s documents must now carry a valid signature.")
    else:
        text = _("{code}'s documents may now come unsigned.")
    return redirect(_agency_path(code), message=text.format(code=code))


@router.post("/agencies/{code}/certificates")
async def certificate_add_action(
    code: str,
    principal: Admin,
    database: DatabaseDep,
    certificate_pem: Annotated[str, Form(max_length=MAX_CERTIFICATE)] = "",
    file: UploadFile | None = None,
) -> RedirectResponse:
    """Register a certificate the agency signs with: pasted PEM, or an uploaded .pem/.crt file."""
    back = _agency_path(code)
    if file is not None and file.filename:
        if certificate_pem.strip():
            return redirect(
                back, message=_("Paste the certificate or choose a file, not both."), kind="error"
            )
        data = await file.read(MAX_CERTIFICATE + 1)
        if len(data) > MAX_CERTIFICATE:
            return redirect(back, message=_("The file is too large."), kind="error")
        try:
            certificate_pem = data.decode("ascii")
        except UnicodeError:
            return redirect(
                back,
                message=_(
                    "The file is not a PEM certificate (text beginning with -----BEGIN CERTIFICATE-----)."
                ),
                kind="error",
            )
    if not certificate_pem.strip():
        return redirect(back, message=_("Paste a PEM certificate or choose a .pem/.crt file."), kind="error")
    try:
        async with database.transaction() as session:
            row = await register_agency_certificate(
                session, agency_code=code, pem=certificate_pem, actor=principal.actor
            )
    except HubError as error:
        if error.status == 404:
            raise
        return redirect(back, message=refusal(error), kind="error")
    return redirect(
        back,
        message=_("Certificate {fingerprint}… registered for {code}.").format(
            fingerprint=row.fingerprint_sha256[:16], code=code
        ),
    )


@router.post("/agencies/{code}/certificates/{certificate_id}/revoke")
async def certificate_revoke_action(
    code: str, certificate_id: str, principal: Admin, database: DatabaseDep
) -> RedirectResponse:
    async with database.transaction() as session:
        row = await revoke_agency_certificate(
            session, certificate_id=certificate_id, agency_code=code, actor=principal.actor
        )
    return redirect(
        _agency_path(code),
        message=_(
            "Certificate {fingerprint}… revoked: signatures made with it are no longer accepted."
        ).format(fingerprint=row.fingerprint_sha256[:16]),
    )
