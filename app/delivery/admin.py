"""What operators do with deliveries (hàng đợi gửi nhận): find them, look at one, and the three
repairs — requeue a failed one, make a waiting retry due now, discard one with a reason.

The console, the admin API and the CLI all call these functions; none of them writes SQL of its own.
Every state change goes through `service.apply_changes` (history event and exchange-log entry
included) and every action is written to the admin log with the person or credential who did it.

Lists are newest first and paged by keyset on the delivery id: ids are time-ordered (UUIDv7), so
"newer than" is "greater id", a time range is an id range, and a page costs one index range read
whatever page it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.agencies.codes import CodePattern
from app.audit.log import record_admin_action
from app.delivery import states
from app.delivery.service import Change, apply_changes
from app.kit.clock import utcnow
from app.kit.errors import Conflict, NotFound
from app.kit.ids import id_floor
from app.kit.text import StorableText
from app.models import AdminLogEntry, Attempt, Delivery, DeliveryState, Document, Payload

MAX_PAGE = 500
DEFAULT_PAGE = 50
BULK_BATCH = 500  # deliveries read and changed per statement in a bulk action


class DeliveryFilter(BaseModel):
    """Which deliveries: every field narrows the list. `sender` and `recipient` take an agency code
    or a pattern over the code hierarchy (`*.31.H62`: district 31 and everything under it)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    state: DeliveryState | None = None
    connector: StorableText | None = Field(default=None, max_length=40)
    sender: StorableText | None = Field(default=None, max_length=40)
    recipient: StorableText | None = Field(default=None, max_length=40)
    document_id: StorableText | None = Field(default=None, max_length=200, description="the edXML DocumentId")
    since: datetime | None = Field(default=None, description="created at or after")
    until: datetime | None = Field(default=None, description="created before")

    @field_validator("connector", "sender", "recipient", "document_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("sender", "recipient")
    @classmethod
    def _code_or_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            CodePattern.parse(value)  # InvalidAgencyCode is a ValueError: pydantic reports it
        return value

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def is_empty(self) -> bool:
        return not any(getattr(self, name) is not None for name in type(self).model_fields)

    def apply(self, query: Select[Any]) -> Select[Any]:
        """`query` (over deliveries joined with their documents) narrowed to this filter."""
        if self.state is not None:
            query = query.where(Delivery.state == self.state.value)
        if self.connector:
            query = query.where(Delivery.connector == self.connector)
        if self.recipient:
            query = query.where(_code_condition(Delivery.recipient_code, self.recipient))
        if self.sender:
            query = query.where(_code_condition(Document.sender_code, self.sender))
        if self.document_id:
            query = query.where(Document.edxml_document_id == self.document_id)
        if self.since is not None:
            query = query.where(Delivery.id >= id_floor(_millis(self.since)))
        if self.until is not None:
            query = query.where(Delivery.id < id_floor(_millis(self.until)))
        return query


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _code_condition(column: Any, text: str) -> Any:
    """An exact code, or the subtree a `*.<groups>` pattern names (the code equal to the groups, or
    ending in `.<groups>`)."""
    if text == "*":
        return column.is_not(None)
    if not text.startswith("*."):
        return column == text
    suffix = text[2:]
    return or_(column == suffix, column.like(f"%.{suffix}"))


class DeliveryRow(BaseModel):
    """One line of the delivery list."""

    id: str
    state: DeliveryState
    connector: str
    recipient: str
    sender: str
    document: str  # the hub's id of the document
    document_id: str  # its edXML DocumentId
    subject: str
    attempt_count: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryRow]
    next_cursor: str | None


def _rows_query() -> Any:  # a Select of (Delivery, sender, DocumentId, subject)
    return select(Delivery, Document.sender_code, Document.edxml_document_id, Document.subject).join(
        Document, Document.id == Delivery.document_id
    )


def _row(delivery: Delivery, sender: str, document_id: str, subject: str) -> DeliveryRow:
    return DeliveryRow(
        id=delivery.id,
        state=DeliveryState(delivery.state),
        connector=delivery.connector,
        recipient=delivery.recipient_code,
        sender=sender,
        document=delivery.document_id,
        document_id=document_id,
        subject=subject,
        attempt_count=delivery.attempt_count,
        next_attempt_at=delivery.next_attempt_at,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
    )


async def list_deliveries(
    session: AsyncSession, where: DeliveryFilter, *, cursor: str | None = None, limit: int = DEFAULT_PAGE
) -> DeliveryPage:
    """One page of deliveries, newest first; `cursor` is the `next_cursor` of the page before."""
    limit = max(1, min(limit, MAX_PAGE))
    query = where.apply(_rows_query()).order_by(Delivery.id.desc()).limit(limit + 1)
    if cursor:
        query = query.where(Delivery.id < cursor)
    rows = (await session.execute(query)).all()
    items = [_row(*row) for row in rows[:limit]]
    return DeliveryPage(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    http_status: int | None
    error: str | None
    duration_ms: float | None


class EventOut(BaseModel):
    at: datetime
    from_state: str | None
    to_state: str
    reason: str


class StatusOut(BaseModel):
    code: str
    reporter: str
    description: str
    reported_at: str
    received_at: datetime


class DocumentSummary(BaseModel):
    id: str
    kind: str
    document_id: str
    sender: str
    subject: str
    code_number: str
    code_notation: str
    received_at: datetime
    received_via: str
    sealed_sha256: str


class DeliveryDetail(BaseModel):
    """A delivery with everything an operator needs to decide what to do with it."""

    delivery: DeliveryRow
    remote_id: str | None
    dispatched_at: datetime | None
    document: DocumentSummary
    history: list[EventOut]
    attempts: list[AttemptOut]
    statuses: list[StatusOut]
    actions: list[str]  # what may be done now: requeue, retry-now, discard


class Action(StrEnum):
    REQUEUE = "requeue"  # failed -> queued, with a fresh schedule of attempts
    RETRY_NOW = "retry-now"  # retrying -> queued, due at once
    DISCARD = "discard"  # anything unsettled, or failed -> discarded: nobody will deliver it


_ALLOWED_FROM: dict[Action, frozenset[DeliveryState]] = {
    Action.REQUEUE: frozenset({DeliveryState.FAILED}),
    Action.RETRY_NOW: frozenset({DeliveryState.RETRYING}),
    Action.DISCARD: states.DISCARDABLE,
}


def allowed_actions(state: DeliveryState) -> list[str]:
    return [action.value for action, sources in _ALLOWED_FROM.items() if state in sources]


async def delivery_detail(session: AsyncSession, delivery_id: str) -> DeliveryDetail:
    row = (
        await session.execute(
            _rows_query()
            .where(Delivery.id == delivery_id)
            .options(selectinload(Delivery.events), selectinload(Delivery.statuses))
            .execution_options(populate_existing=True)  # fresh after a change in this session
        )
    ).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    delivery: Delivery = row[0]
    document = await session.get_one(Document, delivery.document_id)
    attempts = await session.scalars(
        select(Attempt).where(Attempt.delivery_id == delivery_id).order_by(Attempt.started_at, Attempt.id)
    )
    return DeliveryDetail(
        delivery=_row(*row),
        remote_id=delivery.remote_id,
        dispatched_at=delivery.dispatched_at,
        document=DocumentSummary(
            id=document.id,
            kind=document.kind,
            document_id=document.edxml_document_id,
            sender=document.sender_code,
            subject=document.subject,
            code_number=document.code_number,
            code_notation=document.code_notation,
            received_at=document.received_at,
            received_via=document.received_via,
            sealed_sha256=document.sealed_sha256,
        ),
        history=[
            EventOut(at=e.at, from_state=e.from_state, to_state=e.to_state, reason=e.reason)
            for e in delivery.events
        ],
        attempts=[
            AttemptOut(
                number=a.number,
                started_at=a.started_at,
                ended_at=a.ended_at,
                outcome=a.outcome,
                http_status=a.http_status,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in attempts
        ],
        statuses=[
            StatusOut(
                code=s.status_code,
                reporter=s.reporter_code,
                description=s.description,
                reported_at=s.reported_at,
                received_at=s.received_at,
            )
            for s in delivery.statuses
        ],
        actions=allowed_actions(DeliveryState(delivery.state)),
    )


@dataclass
class BulkResult:
    changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # not in a state the action applies to


def _change(delivery: Delivery, action: Action, *, actor: str, reason: str, now: datetime) -> Change:
    discard = action is Action.DISCARD
    # Requeue and retry-now make the delivery due at once and no longer with the broker, so the relay
    # hands it out. A requeued delivery starts a fresh schedule of attempts (earlier ones stay listed).
    return Change(
        delivery_id=delivery.id,
        document_id=delivery.document_id,
        recipient_code=delivery.recipient_code,
        from_state=DeliveryState(delivery.state),
        to_state=DeliveryState.DISCARDED if discard else DeliveryState.QUEUED,
        reason=f"{action.value} by {actor}" + (f": {reason}" if reason else ""),
        attempt_count=0 if action is Action.REQUEUE else delivery.attempt_count,
        next_attempt_at=None if discard else now,
        dispatched_at=delivery.dispatched_at if discard else None,
        last_error=delivery.last_error,
    )


async def _locked(session: AsyncSession, ids: Sequence[str]) -> list[Delivery]:
    query = select(Delivery).where(Delivery.id.in_(list(ids))).order_by(Delivery.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return list(await session.scalars(query))


async def _purged(session: AsyncSession, deliveries: Sequence[Delivery]) -> set[str]:
    """The documents among these deliveries' whose sealed bytes retention purged: nothing is left to
    send again, so they can be discarded but not requeued or retried."""
    documents = {delivery.document_id for delivery in deliveries}
    query = (
        select(Document.id)
        .join(Payload, Payload.sha256 == Document.sealed_sha256)
        .where(Document.id.in_(documents), Payload.purged_at.is_not(None))
    )
    return set(await session.scalars(query))


async def _act_on(
    session: AsyncSession, deliveries: Sequence[Delivery], action: Action, *, actor: str, reason: str
) -> BulkResult:
    now = utcnow()
    result = BulkResult()
    changes = []
    purged = set() if action is Action.DISCARD else await _purged(session, deliveries)
    for delivery in deliveries:
        if DeliveryState(delivery.state) in _ALLOWED_FROM[action] and delivery.document_id not in purged:
            changes.append(_change(delivery, action, actor=actor, reason=reason, now=now))
            result.changed.append(delivery.id)
        else:
            result.skipped.append(delivery.id)
    applied = await apply_changes(session, changes, at=now)
    lost = {missed.change.delivery_id for missed in applied.lost}  # moved on meanwhile (a worker)
    result.changed = [delivery_id for delivery_id in result.changed if delivery_id not in lost]
    result.skipped += sorted(lost)
    return result


def _check_reason(action: Action, reason: str) -> str:
    reason = reason.strip()
    if action is Action.DISCARD and not reason:
        raise ValueError("a discard needs a reason")
    return reason


async def act_on_one(
    session: AsyncSession, delivery_id: str, action: Action, *, actor: str, reason: str = ""
) -> DeliveryRow:
    """Requeue, retry now or discard one delivery. NotFound for an unknown id; Conflict (409) when its
    state does not allow the action."""
    reason = _check_reason(action, reason)
    found = await _locked(session, [delivery_id])
    if not found:
        raise NotFound(f"no delivery {delivery_id}")
    state = DeliveryState(found[0].state)
    if state not in _ALLOWED_FROM[action]:
        allowed = ", ".join(sorted(s.value for s in _ALLOWED_FROM[action]))
        raise Conflict(f"delivery {delivery_id} is {state.value}; {action.value} applies to {allowed}")
    if action is not Action.DISCARD and await _purged(session, found):
        raise Conflict(
            f"the bytes of delivery {delivery_id}'s document were purged by retention "
            "(LIENTHONG_PAYLOAD_RETENTION_DAYS): it cannot be sent again, only discarded"
        )
    if not (await _act_on(session, found, action, actor=actor, reason=reason)).changed:
        raise Conflict(f"delivery {delivery_id} changed state meanwhile; look at it again")
    record_admin_action(
        session,
        actor=actor,
        action=f"delivery.{action.value}",
        target=delivery_id,
        reason=reason,
        from_state=state.value,
    )
    await session.flush()
    return (await delivery_detail(session, delivery_id)).delivery


async def act_on_many(
    session: AsyncSession,
    action: Action,
    *,
    actor: str,
    reason: str = "",
    ids: Sequence[str] | None = None,
    where: DeliveryFilter | None = None,
) -> BulkResult:
    """The action on the given ids, or on every delivery the filter selects (in batches, in the
    caller's transaction). Deliveries whose state does not allow it are skipped, unknown ids too."""
    reason = _check_reason(action, reason)
    if (ids is None) == (where is None):
        raise ValueError("give either ids or a filter")
    result = BulkResult()
    if ids is not None:
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), BULK_BATCH):
            chunk = wanted[start : start + BULK_BATCH]
            found = await _locked(session, chunk)
            done = await _act_on(session, found, action, actor=actor, reason=reason)
            known = {d.id for d in found}
            result.changed += done.changed
            result.skipped += done.skipped + [i for i in chunk if i not in known]
    else:
        assert where is not None
        # Only the deliveries the action applies to are selected, batch after batch by keyset.
        sources = _ALLOWED_FROM[action]
        if where.state is not None and where.state not in sources:
            return result
        after: str | None = None
        while True:
            query = where.apply(select(Delivery.id).join(Document, Document.id == Delivery.document_id))
            query = query.where(Delivery.state.in_([s.value for s in sources]))
            if after is not None:
                query = query.where(Delivery.id > after)
            chunk = list(await session.scalars(query.order_by(Delivery.id).limit(BULK_BATCH)))
            if not chunk:
                break
            after = chunk[-1]
            done = await _act_on(session, await _locked(session, chunk), action, actor=actor, reason=reason)
            result.changed += done.changed
            result.skipped += done.skipped
    record_admin_action(
        session,
        actor=actor,
        action=f"delivery.{action.value}",
        target=f"{len(result.changed)} deliveries",
        reason=reason,
        changed=len(result.changed),
        skipped=len(result.skipped),
        **({"ids": result.changed[:1000]} if ids is not None else {}),
        **({"filter": where.model_dump(mode="json", exclude_none=True)} if where is not None else {}),
    )
    return result


class AdminLogFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    actor: str | None = Field(default=None, max_length=200, description="who (part of the name)")
    action: str | None = Field(default=None, max_length=64, description="what, e.g. delivery.discard")
    target: str | None = Field(default=None, max_length=200)
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("actor", "action", "target", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class AdminLogRow(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class AdminLogPage(BaseModel):
    items: list[AdminLogRow]
    next_cursor: str | None


async def admin_log(
    session: AsyncSession, where: AdminLogFilter, *, cursor: str | None = None, limit: int = DEFAULT_PAGE
) -> AdminLogPage:
    """The admin log, newest first, by keyset on the entry number."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(AdminLogEntry).order_by(AdminLogEntry.id.desc()).limit(limit + 1)
    if cursor:
        try:
            query = query.where(AdminLogEntry.id < int(cursor))
        except ValueError:
            raise ValueError("the cursor is not a next_cursor of this list") from None
    if where.actor:
        query = query.where(AdminLogEntry.actor.contains(where.actor, autoescape=True))
    if where.action:
        query = query.where(AdminLogEntry.action.startswith(where.action, autoescape=True))
    if where.target:
        query = query.where(AdminLogEntry.target == where.target)
    if where.since is not None:
        query = query.where(AdminLogEntry.at >= where.since)
    if where.until is not None:
        query = query.where(AdminLogEntry.at < where.until)
    entries = list(await session.scalars(query))
    items = [
        AdminLogRow(id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target, detail=e.detail or {})
        for e in entries[:limit]
    ]
    return AdminLogPage(items=items, next_cursor=str(items[-1].id) if len(entries) > limit else None)
