"""The state machine's promises to operators (issue 11): `discarded` is reachable from every state a
delivery can still be in, `failed -> queued` is a requeue, `retrying -> queued` a retry now; the
actions offered match what the state machine allows."""

from __future__ import annotations

import pytest

from app.delivery.admin import Action, allowed_actions
from app.delivery.states import DISCARDABLE, TRANSITIONS, check
from app.models import DeliveryState as S

SETTLED_FOR_GOOD = {S.DELIVERED, S.DISCARDED}


@pytest.mark.parametrize("state", sorted(set(S) - SETTLED_FOR_GOOD))
def test_every_state_not_delivered_or_discarded_can_be_discarded(state: S) -> None:
    check(state, S.DISCARDED, delivery_id="d")
    assert state in DISCARDABLE
    assert Action.DISCARD.value in allowed_actions(state)


def test_delivered_and_discarded_are_final() -> None:
    for state in SETTLED_FOR_GOOD:
        assert TRANSITIONS[state] == frozenset()
        assert allowed_actions(state) == []


def test_requeue_and_retry_now_are_allowed_moves() -> None:
    check(S.FAILED, S.QUEUED, delivery_id="d")
    check(S.RETRYING, S.QUEUED, delivery_id="d")
    assert allowed_actions(S.FAILED) == ["requeue", "discard"]
    assert allowed_actions(S.RETRYING) == ["retry-now", "discard"]
    assert allowed_actions(S.QUEUED) == ["discard"]


def test_every_action_offered_is_a_transition_the_state_machine_allows() -> None:
    target = {Action.REQUEUE: S.QUEUED, Action.RETRY_NOW: S.QUEUED, Action.DISCARD: S.DISCARDED}
    for state in S:
        for action in allowed_actions(state):
            assert target[Action(action)] in TRANSITIONS[state], (state, action)
