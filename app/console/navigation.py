"""The console's one navigation list: what the menu shows, in order.

An entry is shown when its page exists (`ready`) and the person's role may see it. Entries for the
pages other services will feed are listed here, not ready, so they are not links yet: when a page is
added (see `app.console`), set its entry's `ready=True` (and its roles)."""

from __future__ import annotations

from dataclasses import dataclass

from app.i18n import N_
from app.models import Role

STAFF = frozenset({Role.ADMIN, Role.AUDITOR})


@dataclass(frozen=True)
class NavItem:
    key: str  # the page's name; templates mark the current one
    label: str  # English, translated when shown
    path: str
    ready: bool = True
    roles: frozenset[Role] = STAFF


NAVIGATION: list[NavItem] = [
    NavItem("overview", N_("Overview"), "/admin"),
    NavItem("deliveries", N_("Delivery queue"), "/admin/deliveries"),
    NavItem("connectors", N_("Connectors"), "/admin/connectors"),
    NavItem("agencies", N_("Agencies"), "/admin/agencies"),
    NavItem("routes", N_("Routes"), "/admin/routes"),
    NavItem("credentials", N_("Credentials"), "/admin/credentials"),
    NavItem("keys", N_("Keys"), "/admin/keys"),
    NavItem("reports", N_("Indicator report"), "/admin/reports"),
    NavItem("admin-log", N_("Admin log"), "/admin/log"),
    NavItem("audit", N_("Exchange log"), "/admin/audit"),
]


def visible(role: Role) -> list[NavItem]:
    return [item for item in NAVIGATION if item.ready and role in item.roles]
