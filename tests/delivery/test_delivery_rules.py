"""Pure parts of delivery: the state machine, the retry schedule, how receivers' answers are read."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.delivery.backoff import RetryPolicy
from app.delivery.states import TRANSITIONS, IllegalTransition, check
from app.models import DeliveryState as S
from connectors.base import OutcomeKind
from connectors.qlvb_push import classify, retry_after_seconds


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.QUEUED, S.SENDING),
        (S.SENDING, S.DELIVERED),
        (S.SENDING, S.RETRYING),
        (S.RETRYING, S.SENDING),
        (S.SENDING, S.AWAITING_PICKUP),
        (S.AWAITING_PICKUP, S.DELIVERED),
        (S.FAILED, S.QUEUED),
        (S.SENDING, S.SENDING),
    ],
)
def test_allowed_transitions(current: S, target: S) -> None:
    check(current, target, delivery_id="d")


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.DELIVERED, S.SENDING),
        (S.DELIVERED, S.FAILED),
        (S.QUEUED, S.DELIVERED),
        (S.RETRYING, S.DELIVERED),
        (S.AWAITING_PICKUP, S.SENDING),
        (S.DISCARDED, S.QUEUED),
    ],
)
def test_illegal_transitions_are_refused(current: S, target: S) -> None:
    with pytest.raises(IllegalTransition, match=f"from {current.value} to {target.value}"):
        check(current, target, delivery_id="d")


def test_every_state_is_in_the_table_and_delivered_is_final() -> None:
    assert set(TRANSITIONS) == set(S)
    assert TRANSITIONS[S.DELIVERED] == frozenset()


@given(attempt=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_backoff_grows_within_bounds(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base_seconds=2, cap_seconds=600, max_attempts=10)
    bound = min(600, 2 * 2 ** (attempt - 1))
    delay = policy.delay(attempt, rng=random.Random(seed))
    assert bound / 2 <= delay <= bound


def test_backoff_honours_retry_after_within_the_cap() -> None:
    policy = RetryPolicy(base_seconds=1, cap_seconds=60, max_attempts=5)
    assert policy.delay(1, retry_after=30, rng=random.Random(1)) == 30
    assert policy.delay(1, retry_after=3600, rng=random.Random(1)) == 60
    assert policy.exhausted(5) and not policy.exhausted(4)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, OutcomeKind.DELIVERED),
        (202, OutcomeKind.DELIVERED),
        (408, OutcomeKind.TRANSIENT),
        (429, OutcomeKind.TRANSIENT),
        (500, OutcomeKind.TRANSIENT),
        (503, OutcomeKind.TRANSIENT),
        (400, OutcomeKind.PERMANENT),
        (404, OutcomeKind.PERMANENT),
        (413, OutcomeKind.PERMANENT),
        (301, OutcomeKind.PERMANENT),
    ],
)
def test_receiver_answers_are_classified(status: int, kind: OutcomeKind) -> None:
    assert classify(status).kind is kind


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120
    later = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_seconds(later, now=now) == 90
    assert retry_after_seconds("soon") is None
    assert classify(503, retry_after="7").retry_after == 7
