"""Hàng đợi gửi nhận: the delivery list (filters, keyset pages), one delivery's detail, and the
repairs — requeue, retry now, discard with a reason — on one delivery or on a selection, each
confirmed in a dialog and written to the admin log."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from app.console.deps import Admin, Person
from app.console.forms import field_errors, local_moment
from app.console.rendering import redirect, render
from app.delivery.admin import (
    Action,
    DeliveryFilter,
    DeliveryPage,
    act_on_many,
    act_on_one,
    delivery_detail,
    list_deliveries,
)
from app.i18n import gettext as _
from app.i18n import ngettext
from app.kit.deps import DatabaseDep, ReadingSessionDep
from app.kit.errors import HubError
from app.models import DeliveryState

router = APIRouter()
FILTER_FIELDS = ("state", "connector", "sender", "recipient", "document_id", "since", "until")
CONNECTORS = ("qlvb-push", "inbox", "national-axis")


def _filter(values: Any) -> DeliveryFilter:
    """The filter from the list's query string or the bulk form's hidden fields (Vietnam time)."""
    return DeliveryFilter(
        state=values.get("state") or None,
        connector=values.get("connector"),
        sender=values.get("sender"),
        recipient=values.get("recipient"),
        document_id=values.get("document_id"),
        since=local_moment(values.get("since")),
        until=local_moment(values.get("until")),
    )


def _filter_query(values: Any) -> str:
    """The filter's fields as a query string (for page links and for going back after an action)."""
    return urlencode({name: values[name] for name in FILTER_FIELDS if values.get(name)})


@router.get("/deliveries", response_class=HTMLResponse)
async def deliveries_page(request: Request, principal: Person, session: ReadingSessionDep) -> HTMLResponse:
    query = request.query_params
    errors: dict[str, str] = {}
    page = DeliveryPage(items=[], next_cursor=None)
    where = DeliveryFilter()
    try:
        where = _filter(query)
        page = await list_deliveries(session, where, cursor=query.get("cursor") or None)
    except ValidationError as error:
        errors = field_errors(error)
    filters = {name: query.get(name, "") for name in FILTER_FIELDS}
    return render(
        request,
        "pages/deliveries.html",
        principal=principal,
        page="deliveries",
        deliveries=page,
        errors=errors,
        filters=filters,
        filtered=not where.is_empty(),
        states=[s.value for s in DeliveryState],
        connectors=CONNECTORS,
        filter_query=_filter_query(query),
        first_page=not query.get("cursor"),
    )


@router.get("/deliveries/{delivery_id}", response_class=HTMLResponse)
async def delivery_page(
    request: Request, delivery_id: str, principal: Person, session: ReadingSessionDep
) -> HTMLResponse:
    detail = await delivery_detail(session, delivery_id)
    return render(request, "pages/delivery.html", principal=principal, page="deliveries", detail=detail)


def _done(action: Action, changed: int, skipped: int) -> str:
    if action is Action.REQUEUE:
        text = ngettext("{n} delivery requeued.", "{n} deliveries requeued.", changed)
    elif action is Action.DISCARD:
        text = ngettext("{n} delivery discarded.", "{n} deliveries discarded.", changed)
    else:
        text = ngettext("{n} delivery is due now.", "{n} deliveries are due now.", changed)
    text = text.format(n=changed)
    if skipped:
        text += " " + ngettext(
            "{n} skipped: its state does not allow it.",
            "{n} skipped: their state does not allow it.",
            skipped,
        ).format(n=skipped)
    return text


@router.post("/deliveries/bulk")
async def bulk_action(
    request: Request,
    principal: Admin,
    database: DatabaseDep,
    action: Annotated[Action, Form()],
    selection: Annotated[str, Form(pattern="^(ids|filter)$")] = "ids",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    form = await request.form()
    back = "/admin/deliveries" + (
        "?" + "&".join(f"{n}={form[n]}" for n in FILTER_FIELDS if form.get(n))
        if selection == "filter"
        else ""
    )
    try:
        ids = [str(i) for i in form.getlist("ids")] if selection == "ids" else None
        where = _filter(form) if selection == "filter" else None
        if ids is not None and not ids:
            return redirect(back, message=_("Select at least one delivery."), kind="error")
        async with database.transaction() as session:
            result = await act_on_many(
                session, action, actor=principal.actor, reason=reason, ids=ids, where=where
            )
    except ValidationError:
        return redirect(back, message=_("The filter is not valid."), kind="error")
    except ValueError:
        return redirect(back, message=_("A discard needs a reason."), kind="error")
    return redirect(back, message=_done(action, len(result.changed), len(result.skipped)))


@router.post("/deliveries/{delivery_id}/{action}")
async def one_action(
    delivery_id: str,
    action: Action,
    principal: Admin,
    database: DatabaseDep,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    back = f"/admin/deliveries/{delivery_id}"
    try:
        async with database.transaction() as session:
            await act_on_one(session, delivery_id, action, actor=principal.actor, reason=reason)
    except ValueError:
        return redirect(back, message=_("A discard needs a reason."), kind="error")
    except HubError as error:
        if error.status == 404:
            raise
        return redirect(back, message=_("The delivery's state no longer allows this."), kind="error")
    return redirect(back, message=_done(action, 1, 0))
