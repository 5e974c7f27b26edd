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
from app.audit.log import record_admin_action
from app.kit.changes import Changes, Remembered
from app.kit.errors import BadRequest, Conflict, NotFound, Problem
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


async def load_rules(session: AsyncSession, changes: Changes | None = None) -> list[RouteRule]:
    """Every rule; remembered by `changes`, if given, until the table changes."""
    memory: Remembered[str, tuple[RouteRule, ...]] | None = (
        changes.remembered("routes") if changes is not None else None
    )
    if memory is not None:
        _, remembered = memory.get("all")
        if remembered is not None:
            return list(remembered)
        version = memory.version()
    routes = await session.scalars(select(Route))
    rules = [RouteRule(CodePattern.parse(r.pattern), r.connector) for r in routes]
    if memory is not None:
        memory.put("all", tuple(rules), version)
    return rules


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


# Managing the rules (admin API, CLI, console). Intake reads the table on every document, so a change
# takes effect with the next document, in every replica.


def _checked_rule(pattern: str, connector: str) -> tuple[str, str]:
    problems: list[Problem] = []
    try:
        pattern = str(CodePattern.parse(pattern.strip()))
    except InvalidAgencyCode as error:
        problems.append(Problem("/pattern", "invalid-pattern", str(error)))
    if connector not in ROUTE_TARGETS:
        known = ", ".join(sorted(ROUTE_TARGETS))
        problems.append(Problem("/connector", "unknown-connector", f"{connector!r} is not one of: {known}"))
    if problems:
        raise BadRequest("the routing rule is not valid", problems)
    return pattern, connector


async def list_routes(session: AsyncSession) -> list[Route]:
    """Every rule, the most specific first."""
    routes = sorted(await session.scalars(select(Route)), key=lambda r: r.pattern)
    return sorted(routes, key=lambda r: CodePattern.parse(r.pattern).specificity, reverse=True)


async def get_route(session: AsyncSession, route_id: str) -> Route:
    route = await session.get(Route, route_id)
    if route is None:
        raise NotFound(f"no routing rule {route_id}")
    return route


async def add_route(
    session: AsyncSession, *, pattern: str, connector: str, description: str = "", actor: str
) -> Route:
    """Add a rule; 409 if one with the same pattern exists (edit that one instead)."""
    pattern, connector = _checked_rule(pattern, connector)
    existing = await session.scalar(select(Route).where(Route.pattern == pattern))
    if existing is not None:
        raise Conflict(f"a rule for {pattern} exists already ({existing.id} -> {existing.connector})")
    route = Route(pattern=pattern, connector=connector, description=description.strip())
    session.add(route)
    await session.flush()
    record_admin_action(
        session, actor=actor, action="route.add", target=route.id, pattern=pattern, connector=connector
    )
    return route


async def update_route(
    session: AsyncSession,
    *,
    route_id: str,
    actor: str,
    pattern: str | None = None,
    connector: str | None = None,
    description: str | None = None,
) -> Route:
    """Change a rule's pattern, connector or description."""
    route = await get_route(session, route_id)
    before = {"pattern": route.pattern, "connector": route.connector}
    new_pattern, new_connector = _checked_rule(pattern or route.pattern, connector or route.connector)
    if new_pattern != route.pattern:
        clash = await session.scalar(select(Route.id).where(Route.pattern == new_pattern))
        if clash is not None:
            raise Conflict(f"a rule for {new_pattern} exists already ({clash})")
    route.pattern, route.connector = new_pattern, new_connector
    if description is not None:
        route.description = description.strip()
    await session.flush()
    record_admin_action(
        session,
        actor=actor,
        action="route.update",
        target=route.id,
        before=before,
        pattern=route.pattern,
        connector=route.connector,
    )
    return route


async def remove_route(session: AsyncSession, *, route_id: str, actor: str) -> Route:
    route = await get_route(session, route_id)
    await session.delete(route)
    await session.flush()
    record_admin_action(
        session,
        actor=actor,
        action="route.remove",
        target=route.id,
        pattern=route.pattern,
        connector=route.connector,
    )
    return route


@dataclass(frozen=True, slots=True)
class RouteResolution:
    """Which rule a code takes and which connector would carry a document to it now."""

    code: str
    rule_id: str | None
    pattern: str | None
    target: str | None  # the rule's connector, or `local`
    connector: str | None  # what a delivery would use (None: refused, no rule or unknown agency)
    agency_known: bool
    explanation: str


async def resolve_route(session: AsyncSession, code: str) -> RouteResolution:
    """ "Which connector would this code take": the rule that matches, and for `local` whether the
    agency has an endpoint (qlvb-push) or picks up from its inbox."""
    try:
        parsed = AgencyCode.parse(code.strip())
    except InvalidAgencyCode as error:
        raise BadRequest(str(error), [Problem("/code", "invalid-code", str(error))]) from None
    routes = list(await session.scalars(select(Route)))
    rules = [RouteRule(CodePattern.parse(r.pattern), r.connector) for r in routes]
    rule = choose_rule(rules, parsed)
    agency = await session.get(Agency, str(parsed))
    if rule is None:
        return RouteResolution(str(parsed), None, None, None, None, agency is not None, "no rule matches")
    route = next(r for r in routes if r.pattern == str(rule.pattern))
    if agency is None:
        connector = None
        why = f"rule {rule.pattern} -> {rule.target}, but the agency is not in the directory: refused"
    else:
        decision = decide(rules, agency)
        connector = decision.connector.value if decision else None
        why = f"rule {rule.pattern} -> {rule.target}"
        if rule.target == LOCAL:
            why += (
                " (it has an endpoint)" if agency.endpoint else " (no endpoint: it picks up from its inbox)"
            )
    return RouteResolution(
        str(parsed), route.id, route.pattern, rule.target, connector, agency is not None, why
    )
