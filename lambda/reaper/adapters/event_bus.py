"""The account's default EventBridge bus: the reaper's events, 10 entries a PutEvents call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from reaper import contracts
from reaper.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

PUT_EVENTS_MAX = 10
PUT_ATTEMPTS = 3


class DefaultBus:
    """Puts entries on the default bus; entries PutEvents reports failed are put again (at
    most PUT_ATTEMPTS in all). Never raises: returns how many entries were not put."""

    def __init__(self, client: EventBridgeClient) -> None:
        self._client = client

    def put(self, entries: Sequence[tuple[str, str]]) -> int:
        lost = 0
        for i in range(0, len(entries), PUT_EVENTS_MAX):
            lost += self._put_batch(entries[i : i + PUT_EVENTS_MAX])
        return lost

    def _put_batch(self, batch: Sequence[tuple[str, str]]) -> int:
        pending = [
            {"Source": contracts.REAPER_EVENT_SOURCE, "DetailType": kind, "Detail": detail}
            for kind, detail in batch
        ]
        for _ in range(PUT_ATTEMPTS):
            try:
                response = self._client.put_events(Entries=pending)  # type: ignore[arg-type]
            except (ClientError, BotoCoreError) as exc:
                logger.warning("events not put", extra={"error": str(exc)[:300]})
                continue
            results = response.get("Entries", [])
            pending = [e for e, r in zip(pending, results, strict=False) if r.get("ErrorCode")]
            if not pending:
                return 0
        return len(pending)
