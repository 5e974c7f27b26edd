"""Routing: which connector carries a document to each recipient.

Rules live in the `routes` table: an exact agency code or a pattern over the code hierarchy
(`*.H62`, `*.30.H62`, `*`) names a connector. The most specific matching rule wins. The pseudo
connector `local` stands for "the agency's own QLVB": `qlvb-push` when the agency has a delivery
endpoint, `inbox` when it has none and picks its documents up itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agencies.codes import AgencyCode, CodePattern, InvalidAgencyCode
from app.models import Agency, Route


class Connector(StrEnum):
    QLVB_PUSH = "qlvb-push"  # POST to the agency's endpoint
    INBOX = "inbox"  # the agency pulls from GET /api/v1/inbox
    NATIONAL_AXIS = "national-axis"  # Trục liên thông văn bản quốc gia


LOCAL = "local"
ROUTE_TARGETS = frozenset({LOCAL, *Connector})


@dataclass(frozen=True, slots=True)
class RouteRule:
    pattern: CodePattern
    target: str  # a Connector value or LOCAL


@dataclass(frozen=True, slots=True)
class RouteDecision:
    recipient: str
    connector: Connector
    rule: str  # the pattern that decided, for the delivery's history


def default_rules(hub_code: str) -> list[tuple[str, str, str]]:
    """The rules seeded into an empty routes table: the hub's province is local, the rest goes to
    the national axis."""
    province = AgencyCode.parse(hub_code).level1
    return [
        (f"*.{province}", LOCAL, "agencies of the province: their QLVB endpoint, or their inbox"),
        ("*", Connector.NATIONAL_AXIS.value, "everyone else: through the national document axis"),
    ]


def choose_rule(rules: Sequence[RouteRule], code: AgencyCode) -> RouteRule | None:
    matching = [rule for rule in rules if rule.pattern.matches(code)]
    if not matching:
        return None
    return max(matching, key=lambda rule: rule.pattern.specificity)


def is_local(rules: Sequence[RouteRule], code: str) -> bool:
    """Whether the rules keep `code` inside the province (any target but the national axis)."""
    try:
        rule = choose_rule(rules, AgencyCode.parse(code))
    except InvalidAgencyCode:
        return False
    return rule is not None and rule.target != Connector.NATIONAL_AXIS


def decide(rules: Sequence[RouteRule], agency: Agency) -> RouteDecision | None:
    rule = choose_rule(rules, AgencyCode.parse(agency.code))
    if rule is None:
        return None
    if rule.target == LOCAL:
        connector = Connector.QLVB_PUSH if agency.endpoint else Connector.INBOX
    else:
        connector = Connector(rule.target)
    return RouteDecision(recipient=agency.code, connector=connector, rule=str(rule.pattern))


async def load_rules(session: AsyncSession) -> list[RouteRule]:
    routes = await session.scalars(select(Route))
    return [RouteRule(CodePattern.parse(r.pattern), r.connector) for r in routes]


async def seed_default_routes(session: AsyncSession, hub_code: str) -> bool:
    """Seed the default rules if the table is empty; True if it did."""
    if await session.scalar(select(Route.id).limit(1)) is not None:
        return False
    session.add_all(
        Route(pattern=pattern, connector=target, description=description)
        for pattern, target, description in default_rules(hub_code)
    )
    await session.flush()
    return True
