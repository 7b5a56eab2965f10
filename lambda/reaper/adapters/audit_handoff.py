"""The audit table's hand-off items: what a sweep read of the requests it handed off, one item
per work message (reaper.handoff). Key ``HANDOFF#<run owner>``, ``PART#<n>``; no index key;
gone after HANDOFF_LIFETIME (TTL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reaper.adapters.audit_io import BATCH_WRITE_MAX, TableClient
from reaper.adapters.audit_items import TTL, Item, key
from reaper.handoff import HANDOFF_LIFETIME, HandOffRef, Reading, decode, encode


def handoff_key(ref: HandOffRef) -> Item:
    return key(f"HANDOFF#{ref.run}", f"PART#{ref.part:05d}")


class HandOffParts(TableClient):
    def store_handoff(
        self, run: str, parts: Sequence[list[Reading]], now: datetime, first: int = 0
    ) -> list[HandOffRef]:
        """One item per part, numbered from ``first``, 25 a BatchWriteItem; returns their
        references, in order. Raises StoreError (some may have been written: unreferenced,
        they just expire)."""
        refs = [HandOffRef(run, first + n) for n in range(len(parts))]
        expires = str(int((now + HANDOFF_LIFETIME).timestamp()))
        items = [
            {**handoff_key(ref), "readings": {"S": encode(part)}, TTL: {"N": expires}}
            for ref, part in zip(refs, parts, strict=True)
        ]
        for i in range(0, len(items), BATCH_WRITE_MAX):
            self._batch_write(
                [{"PutRequest": {"Item": it}} for it in items[i : i + BATCH_WRITE_MAX]]
            )
        return refs

    def handoff_readings(self, ref: HandOffRef) -> dict[str, Reading]:
        """The readings a hand-off item holds ({} when it is gone). Raises StoreError."""
        response = self._call(
            self._client.get_item,
            TableName=self._table,
            Key=handoff_key(ref),
            ConsistentRead=True,
        )
        item = response.get("Item") or {}
        text = item.get("readings", {}).get("S")
        return decode(text) if isinstance(text, str) else {}
