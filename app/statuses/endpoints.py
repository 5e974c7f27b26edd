"""`/api/v1/statuses`: agency software reports progress on documents it received, or recalls its own."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.auth.deps import AgencyPrincipal
from app.documents.endpoints import EDXML_REQUEST_BODY, take_in
from app.kit.deps import DatabaseDep, SettingsDep
from app.sealing.deps import SealerDep
from app.statuses.schemas import StatusReceipt
from app.statuses.service import submit_status

router = APIRouter(prefix="/api/v1/statuses", tags=["statuses"])


@router.post(
    "",
    response_model=StatusReceipt,
    status_code=202,
    openapi_extra={"requestBody": EDXML_REQUEST_BODY},
    responses={200: {"model": StatusReceipt, "description": "the same bytes were accepted before"}},
)
async def submit(
    request: Request,
    response: Response,
    principal: AgencyPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
    sealer: SealerDep,
) -> StatusReceipt:
    """Submit an edXML status message (01–06, 15, 16 as a recipient; 13 as the sender). 202: it is
    on the timeline and on its way to the other side; 200: the same bytes were accepted before."""
    result = await take_in(request, response, principal, database, settings, sealer, submit_status)
    return result.receipt
