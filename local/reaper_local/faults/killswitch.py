"""The kill switch as an operator engages it, and a wall-clock record of every cancel the
emulator accepts, to tell which came too late.

The reaper may cache the switch for ``KILL_SWITCH_CACHE_SECONDS``; a cancel already sent may
still land within the client's read timeout. A cancel the emulator accepted later than both
after the switch was engaged is *cancelled after the kill switch*.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from reaper.adapters.audit_table import AuditTable

from reaper_local.faults import scenarios as ev

if TYPE_CHECKING:
    from reaper_local.faults.runner import ScenarioRun

DEFAULT_CACHE_SECONDS = 5.0
POLL_SECONDS = 0.01


def kill_switch_cache_seconds() -> float:
    """The reaper's own constant, wherever the reaper keeps it; 5 s if it has none."""
    import reaper  # noqa: PLC0415

    for info in pkgutil.walk_packages(reaper.__path__, "reaper."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            continue
        value = getattr(module, "KILL_SWITCH_CACHE_SECONDS", None)
        if isinstance(value, int | float):
            return float(value)
    return DEFAULT_CACHE_SECONDS


class KillSwitchWatch:
    """Polls the emulator's accepted cancels (a lower bound on when each was accepted: the
    start of the last poll that did not see it), engages the switch once ``after`` cancels of
    a sweep were accepted, and from then on lets the emulator's manual clock (the reaper's
    clock in these runs) follow the wall clock, so a cache timed on either one expires."""

    def __init__(self, run: ScenarioRun, after: int | None) -> None:
        self.run = run
        self.after = after
        self.engaged_at: float | None = None
        self.accepted_at: dict[str, float] = {}
        self._baseline: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kill-switch-watch", daemon=True)
        self._seen = 0
        self._last_poll = time.monotonic()
        self._last_tick = 0.0

    def engage(self) -> None:
        world = self.run.world
        AuditTable(world.dynamodb, world.table).set_kill_switch(
            True, "fault matrix", "reaper_local.faults", datetime.now(UTC)
        )
        self.engaged_at = self._last_tick = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()

    def sweep_started(self) -> None:
        if self._baseline is None:
            self._baseline = len(self.run.world.backend.snapshot(include_requests=False).cancelled)

    def late(self, allowance: float) -> list[str]:
        if self.engaged_at is None:
            return []
        return [t for t, at in self.accepted_at.items() if at - self.engaged_at > allowance]

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self._poll()

    def _poll(self) -> None:
        backend = self.run.world.backend
        before = time.monotonic()
        cancelled = backend.snapshot(include_requests=False).cancelled
        for token in cancelled[self._seen :]:
            self.accepted_at.setdefault(token, self._last_poll)
        self._seen = len(cancelled)
        self._last_poll = before
        if self.engaged_at is not None:
            now = time.monotonic()
            backend.clock.advance(now - self._last_tick)
            self._last_tick = now
            return
        baseline = self._baseline
        if (
            self.after is not None
            and baseline is not None
            and len(cancelled) - baseline >= self.after
        ):
            sweeping = self.run.sweeping
            self.engage()
            if sweeping and self.run.sweeping:
                self.run.count(ev.KILL_SWITCH_MID_SWEEP)
