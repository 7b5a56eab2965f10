"""Time: the system clock, and an invocation's deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class Deadline:
    """Lambda's remaining time, less a margin kept for handing work off and recording it."""

    def __init__(self, remaining_ms: Callable[[], int], margin_seconds: float) -> None:
        self._remaining_ms = remaining_ms
        self.margin_seconds = margin_seconds
        # What the invocation had when it began (about the function's timeout): how much
        # one invocation can do, which sizes the work handed to the next ones.
        self.initial_seconds = remaining_ms() / 1000.0

    @classmethod
    def unlimited(cls) -> Deadline:
        return cls(lambda: 2**62, 0.0)

    def seconds_left(self) -> float:
        """Seconds of work left before the margin."""
        return self._remaining_ms() / 1000.0 - self.margin_seconds

    def near(self) -> bool:
        return self.seconds_left() <= 0
