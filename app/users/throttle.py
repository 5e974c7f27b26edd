"""Login throttling: after too many failed logins for one name or from one address within a window,
further attempts are refused until the window has passed, whether or not the password is right.

Kept in the gateway's memory: each replica counts on its own, so with N gateways an attacker gets at
most N times the allowance, still far too few tries to guess an argon2id-hashed password."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable


class LoginThrottle:
    def __init__(
        self,
        *,
        per_name: int,
        per_address: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_name = per_name
        self.per_address = per_address
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures[key]
        horizon = self.clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return deque()
        return failures

    def retry_after(self, *, name: str, address: str) -> float:
        """Seconds until a login for `name` from `address` is allowed again; 0 if it is now."""
        waits = []
        for key, limit in ((f"name:{name.lower()}", self.per_name), (f"addr:{address}", self.per_address)):
            failures = self._recent(key)
            if len(failures) >= limit:
                waits.append(failures[-limit] + self.window - self.clock())
        return max(waits, default=0.0)

    def failed(self, *, name: str, address: str) -> None:
        now = self.clock()
        self._failures[f"name:{name.lower()}"].append(now)
        self._failures[f"addr:{address}"].append(now)

    def succeeded(self, *, name: str) -> None:
        self._failures.pop(f"name:{name.lower()}", None)
