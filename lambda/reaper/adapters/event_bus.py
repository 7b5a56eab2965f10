"""The account's default EventBridge bus: the reaper's events, 10 entries a PutEvents call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from reaper import contracts
from reaper.observability import logger
from reaper.sizing import EVENT_BUS_PAUSE_SECONDS, EVENT_WRITERS

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

PUT_EVENTS_MAX = 10
PUT_ATTEMPTS = 3


class DefaultBus:
    """Puts entries on the default bus, up to EVENT_WRITERS calls at once; entries PutEvents
    reports failed are put again (at most PUT_ATTEMPTS in all). Never raises: returns how many
    entries were not put. Best effort must never cost a sweep its time: once a call fails
    outright (the bus unreachable after botocore's retries), nothing more is tried for
    EVENT_BUS_PAUSE_SECONDS, and those entries count as not put."""

    def __init__(
        self, client: EventBridgeClient, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._paused_until = 0.0

    def put(self, entries: Sequence[tuple[str, str]]) -> int:
        batches = [entries[i : i + PUT_EVENTS_MAX] for i in range(0, len(entries), PUT_EVENTS_MAX)]
        if len(batches) <= 1:
            return sum(self._put_batch(b) for b in batches)
        with ThreadPoolExecutor(min(EVENT_WRITERS, len(batches)), "events") as pool:
            return sum(pool.map(self._put_batch, batches))

    def _put_batch(self, batch: Sequence[tuple[str, str]]) -> int:
        pending = [
            {"Source": contracts.REAPER_EVENT_SOURCE, "DetailType": kind, "Detail": detail}
            for kind, detail in batch
        ]
        for _ in range(PUT_ATTEMPTS):
            if self._paused():
                return len(pending)
            try:
                response = self._client.put_events(Entries=pending)  # type: ignore[arg-type]
            except (ClientError, BotoCoreError) as exc:
                logger.warning("events not put: pausing", extra={"error": str(exc)[:300]})
                with self._lock:
                    self._paused_until = self._monotonic() + EVENT_BUS_PAUSE_SECONDS
                return len(pending)
            results = response.get("Entries", [])
            pending = [e for e, r in zip(pending, results, strict=False) if r.get("ErrorCode")]
            if not pending:
                return 0
        return len(pending)

    def _paused(self) -> bool:
        with self._lock:
            return self._monotonic() < self._paused_until
