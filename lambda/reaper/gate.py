"""The one place that answers "may this stale request be cancelled now?".

Asked twice for each request: when it is chosen (``admit``: kill switch, the run's cap, dry
run) and right before its cancel call (``may_cancel_now``: the kill switch again), so engaging
the switch stops a running sweep within ``KILL_SWITCH_CACHE_SECONDS``, even for requests
already chosen. A switch that cannot be read counts as engaged for the request asking: it
fails (and is retried or dead-lettered), it is never cancelled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from reaper.models import Outcome
from reaper.ports import AuditStore
from reaper.sizing import KILL_SWITCH_CACHE_SECONDS


class Gate:
    def __init__(
        self,
        audit: AuditStore,
        *,
        cap: int,
        dry_run: bool,
        require_approval: bool = False,
        cache_seconds: float = KILL_SWITCH_CACHE_SECONDS,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        self._audit = audit
        self._left = cap
        self._dry_run = dry_run
        self._require_approval = require_approval
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic or time.monotonic
        self._cap_lock = threading.Lock()
        # One reader at a time: the others wait for its answer instead of reading again.
        self._switch_lock = threading.Lock()
        self._switch: tuple[float, bool] | None = None

    def admit(self, *, approved: bool = False) -> Outcome | None:
        """When a stale request is chosen: None means go on (a slot of the cap is taken);
        else the outcome that stops it. The cap counts dry runs too, so a dry run previews
        exactly what a real run would cancel. Under requireApproval a request nobody
        ``approved`` awaits approval. Raises StoreError if the switch is unreadable."""
        if self.kill_switch_engaged():
            return Outcome.DEFERRED_KILL_SWITCH
        with self._cap_lock:
            if self._left <= 0:
                return Outcome.DEFERRED_CAP
            self._left -= 1
        if self._dry_run:
            return Outcome.DRY_RUN
        return Outcome.AWAITING_APPROVAL if self._require_approval and not approved else None

    def may_cancel_now(self) -> bool:
        """Right before a cancel call. Raises StoreError if the switch is unreadable."""
        return not self._dry_run and not self.kill_switch_engaged()

    def kill_switch_engaged(self) -> bool:
        with self._switch_lock:
            now = self._monotonic()
            cached = self._switch
            if cached is None or now - cached[0] >= self._cache_seconds:
                cached = self._switch = (now, self._audit.kill_switch().engaged)
            return cached[1]
