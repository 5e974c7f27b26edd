"""Which state changes a delivery may make (ARCHITECTURE.md, "Delivery states").

    queued -> sending -> delivered
                |  ^
                v  |   transient failure, back-off
             retrying
                |
                v      permanent failure or attempts exhausted
             failed  --(admin: requeue)--> queued
    inbox:  queued -> sending -> awaiting_pickup -> delivered (the agency acknowledges)
    admin:  retrying --(retry now)--> queued;  any unsettled state, or failed --(discard)--> discarded

`sending -> sending` is a new attempt after one was interrupted (a worker died holding it).
`queued -> failed` is a message dead-lettered before any attempt finished.
`awaiting_pickup -> failed` is a package the agency's system took and refused (`/vxp` updateStatus fail).
The admin moves (`app/delivery/admin.py`): an operator may requeue a failed delivery, make a waiting
retry due now, and discard anything not yet delivered or discarded, with a reason. `sending ->
discarded` stops a delivery whose attempt is in flight; the worker's outcome must then not overwrite
it (compare-and-set in `apply_changes`).
"""

from __future__ import annotations

from app.kit.errors import Conflict
from app.models import DeliveryState as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.QUEUED: frozenset({S.SENDING, S.FAILED, S.DISCARDED}),
    S.SENDING: frozenset({S.SENDING, S.DELIVERED, S.RETRYING, S.FAILED, S.AWAITING_PICKUP, S.DISCARDED}),
    S.RETRYING: frozenset({S.SENDING, S.QUEUED, S.FAILED, S.DISCARDED}),
    S.AWAITING_PICKUP: frozenset({S.DELIVERED, S.FAILED, S.DISCARDED}),
    S.FAILED: frozenset({S.QUEUED, S.DISCARDED}),
    S.DELIVERED: frozenset(),
    S.DISCARDED: frozenset(),
}

#: States in which a delivery may be handed to a connector.
DISPATCHABLE = frozenset({S.QUEUED, S.RETRYING, S.SENDING})
#: States an operator may discard (everything not delivered or discarded already).
DISCARDABLE = frozenset({S.QUEUED, S.SENDING, S.RETRYING, S.AWAITING_PICKUP, S.FAILED})
#: States nothing automatic changes any more.
SETTLED = frozenset({S.DELIVERED, S.FAILED, S.DISCARDED, S.AWAITING_PICKUP})


class IllegalTransition(Conflict):
    """A state change the delivery state machine does not allow (409)."""


def check(current: S, target: S, *, delivery_id: str) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"delivery {delivery_id} cannot go from {current.value} to {target.value}")
