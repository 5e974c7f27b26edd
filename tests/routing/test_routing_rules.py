"""Routing decisions: most specific rule wins; `local` resolves by the agency's endpoint."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.agencies.codes import AgencyCode, CodePattern
from app.models import Agency
from app.routing.service import LOCAL, Connector, RouteRule, choose_rule, decide, default_rules


def rules(*pairs: tuple[str, str]) -> list[RouteRule]:
    return [RouteRule(CodePattern.parse(pattern), target) for pattern, target in pairs]


DEFAULT = rules(*[(pattern, target) for pattern, target, _ in default_rules("000.00.00.H62")])


def agency(code: str, endpoint: str | None = None) -> Agency:
    return Agency(code=code, name=code, endpoint=endpoint, status="active")


def test_default_rules_follow_the_hub_province() -> None:
    assert [(p, t) for p, t, _ in default_rules("000.00.00.H29")] == [
        ("*.H29", LOCAL),
        ("*", "national-axis"),
    ]


@pytest.mark.parametrize(
    ("code", "endpoint", "connector"),
    [
        ("000.00.02.H62", None, Connector.INBOX),
        ("000.00.02.H62", "https://qlvb.example/receive", Connector.QLVB_PUSH),
        ("000.21.30.H62", None, Connector.INBOX),
        ("000.00.00.G22", None, Connector.NATIONAL_AXIS),
        ("000.00.00.H29", "https://ignored.example", Connector.NATIONAL_AXIS),
    ],
)
def test_default_routing(code: str, endpoint: str | None, connector: Connector) -> None:
    decision = decide(DEFAULT, agency(code, endpoint))
    assert decision is not None
    assert decision.connector is connector
    assert decision.recipient == code


def test_most_specific_rule_wins() -> None:
    table = rules(
        ("*", "national-axis"), ("*.H62", LOCAL), ("*.30.H62", "qlvb-push"), ("000.21.30.H62", "inbox")
    )
    assert choose_rule(table, AgencyCode.parse("000.21.30.H62")).target == "inbox"  # type: ignore[union-attr]
    assert choose_rule(table, AgencyCode.parse("000.12.30.H62")).target == "qlvb-push"  # type: ignore[union-attr]
    assert choose_rule(table, AgencyCode.parse("000.00.05.H62")).target == LOCAL  # type: ignore[union-attr]
    assert choose_rule(table, AgencyCode.parse("000.00.00.G01")).target == "national-axis"  # type: ignore[union-attr]


def test_no_matching_rule_is_none_not_a_guess() -> None:
    assert decide(rules(("*.H62", LOCAL)), agency("000.00.00.G22")) is None


groups = st.from_regex(r"[0-9]{2}", fullmatch=True)
nonzero = st.from_regex(r"[1-9][0-9]|0[1-9]", fullmatch=True)


@given(level4=st.from_regex(r"[0-9]{3}", fullmatch=True), level3=groups, level2=nonzero)
def test_rule_order_in_the_table_does_not_matter(level4: str, level3: str, level2: str) -> None:
    code = AgencyCode.parse(f"{level4}.{level3}.{level2}.H62")
    table = rules(("*", "national-axis"), ("*.H62", LOCAL), (f"*.{level2}.H62", "qlvb-push"))
    assert choose_rule(table, code) == choose_rule(list(reversed(table)), code)
    assert choose_rule(table, code).target == "qlvb-push"  # type: ignore[union-attr]
