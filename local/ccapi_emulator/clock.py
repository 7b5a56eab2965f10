"""The emulator's clock: wall time, or a manual clock that tests move forward, not sleep."""

from __future__ import annotations

import threading
import time


class Clock:
    """Epoch seconds, plus an offset that :meth:`advance` moves forward.

    A manual clock stands still at ``start`` (default: the wall time when it was made) and moves
    only when advanced. A wall clock follows ``time.time()``; advancing it still works and jumps
    it ahead, which is handy against a standalone server.
    """

    def __init__(self, *, manual: bool = False, start: float | None = None) -> None:
        self._manual = manual
        self._start = time.time() if start is None else float(start)
        self._wall_at_start = time.time()
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def manual(self) -> bool:
        return self._manual

    def now(self) -> float:
        """Current emulated time, epoch seconds."""
        with self._lock:
            base = self._start if self._manual else self._start + time.time() - self._wall_at_start
            return base + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward (never back) and return the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += float(seconds)
        return self.now()
