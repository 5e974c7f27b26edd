"""The retry schedule: exponential back-off with jitter, capped, honouring Retry-After.

Pure: the caller supplies the random source, so the schedule is testable and identical in both ways
of running.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float
    cap_seconds: float
    max_attempts: int

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after the `attempt`-th failed try (1-based).

        The jitter (a uniform draw between half and all of the exponential bound) spreads the retries
        of many deliveries that failed together while the waits still grow with each attempt. A
        receiver's Retry-After is a floor, within the cap."""
        bound = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        draw = (rng or random).uniform(bound / 2, bound)
        if retry_after is not None:
            draw = max(draw, min(retry_after, self.cap_seconds))
        return draw

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts
