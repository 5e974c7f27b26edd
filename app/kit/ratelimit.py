"""Rate limits: a token bucket per key (a credential, a `/vxp` system, an address), in the process.

Each gateway replica keeps its own buckets, so N replicas allow up to N times the rate; the limits
exist to keep one caller from starving the others, not to meter exactly (docs/security.md). Idle
buckets are forgotten once the table grows, so a flood of addresses cannot grow it without bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.kit.errors import TooManyRequests

#: When the table holds more keys than this, the buckets that have refilled are dropped.
MAX_KEYS = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`per_minute` calls a minute for each key, with bursts of up to a quarter of that (at least 10)."""

    def __init__(self, what: str, per_minute: int) -> None:
        self.what = what
        self.rate = per_minute / 60.0
        self.burst = float(max(10, per_minute // 4))
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> None:
        """Spend one call of `key`; TooManyRequests (429 with Retry-After) when none is left."""
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._forget_idle(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            wait = math.ceil((1.0 - bucket.tokens) / self.rate)
            raise TooManyRequests(
                f"too many {self.what}: at most {round(self.rate * 60)} a minute; try again in {wait} s",
                retry_after=wait,
            )
        bucket.tokens -= 1.0

    def _forget_idle(self, now: float) -> None:
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.at) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]


#: The hub's limiters: what each counts, and the setting that gives its rate.
LIMITS = {
    "public": ("calls from this address", "rate_public_per_minute"),
    "intake": ("messages from this credential", "rate_intake_per_minute"),
    "vxp": ("calls from this system", "rate_vxp_per_minute"),
}


def limiter(state: Any, name: str) -> RateLimiter:
    """The app's limiter `name` (one of LIMITS), made on first use from the app's settings."""
    attribute = f"{name}_limiter"
    found: RateLimiter | None = getattr(state, attribute, None)
    if found is None:
        settings: Settings = state.settings
        what, setting = LIMITS[name]
        found = RateLimiter(what, getattr(settings, setting))
        setattr(state, attribute, found)
    return found
