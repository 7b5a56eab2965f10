"""Token buckets: one per operation family, and optionally one for the whole account."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Which bucket each operation draws from when rate_per_second is set.
OPERATION_FAMILIES: dict[str, str] = {
    "CreateResource": "mutate",
    "UpdateResource": "mutate",
    "DeleteResource": "mutate",
    "GetResourceRequestStatus": "request-status",
    "ListResourceRequests": "request-list",
    "CancelResourceRequest": "cancel",
    "GetResource": "resource-read",
    "ListResources": "resource-read",
}


class TokenBucket:
    """``rate`` tokens a second, holding at most ``capacity``; starts full."""

    def __init__(self, rate: float, capacity: float, now: Callable[[], float]) -> None:
        self._rate = rate
        self._capacity = capacity
        self._tokens = capacity
        self._now = now
        self._last = now()

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now

    def has_token(self) -> bool:
        self._refill()
        return self._tokens >= 1.0

    def take(self) -> None:
        self._tokens -= 1.0


class RateLimiter:
    """Admits a call only if its family's bucket and the account bucket both have a token.

    Buckets run on real (monotonic) time, never the emulated clock, so a manual clock that stands
    still does not starve them. A throttled call takes no token from either bucket.
    """

    def __init__(
        self,
        family_rate: float | None,
        account_rate: float | None,
        burst_seconds: float = 1.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()

        def bucket(rate: float) -> TokenBucket:
            return TokenBucket(rate, max(1.0, rate * burst_seconds), now)

        self._families = (
            {family: bucket(family_rate) for family in set(OPERATION_FAMILIES.values())}
            if family_rate is not None
            else {}
        )
        self._account = bucket(account_rate) if account_rate is not None else None

    def admit(self, operation: str) -> bool:
        buckets = [self._families.get(OPERATION_FAMILIES.get(operation, "")), self._account]
        active = [b for b in buckets if b is not None]
        with self._lock:
            if not all(b.has_token() for b in active):
                return False
            for b in active:
                b.take()
            return True
