"""The audit table's packed first sightings: the requests a sweep saw young, many to an item.

A first sighting of its own (``TOKEN#<token>``/``SEEN``) costs a write unit however small it
is; a sweep that lists thousands of healthy requests pays one each. Packed, a sighting is
about 45 bytes of an item that holds up to PACK_MAX of them (about 0.09 units with its index
copy). The packs live in the sparse ``SIGHTINGS`` partition of the ``by-time`` index, which
the next sweep reads whole, once, before its first page (the function's role may Query the
index, not the table). A token delivery does not read them: it keeps its own sighting
(``TOKEN#<token>``/``SEEN``), and a sweep takes the earliest of both (``models.earliest``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from reaper import contracts
from reaper.adapters.audit_io import TableClient
from reaper.adapters.audit_items import REQUEST_LIFETIME, TTL, Item, iso, key
from reaper.models import Sighting

SIGHTINGS_PARTITION = "SIGHTINGS"
# Tokens a pack holds: ~90 KB at most (a token is 1-128 characters), far below DynamoDB's
# 400 KB item limit, and few enough items a sweep that a BatchWriteItem stays small.
PACK_MAX = 2000
# The map attribute: token -> epoch seconds of its first sighting, rounded up (a request is
# never made older than it was seen).
SEEN_MAP = "seen"


class SightingPacks(TableClient):
    def pack_first_seen(self, sightings: Mapping[str, Sighting], now: datetime) -> int:
        """Store these first sightings in packs (who started a request is not kept: use
        ``remember_first_seen`` for that); returns how many items were written. Raises
        StoreError (some packs may be written: a sighting stored twice is read as the
        earlier one)."""
        rows = [(token, math.ceil(s.at.timestamp())) for token, s in sightings.items()]
        run = f"{iso(now)}#{uuid.uuid4().hex[:12]}"
        parts = [(n, rows[i : i + PACK_MAX]) for n, i in enumerate(range(0, len(rows), PACK_MAX))]

        def pack(numbered: tuple[int, list[tuple[str, int]]]) -> Item:
            n, part = numbered
            return {
                **key(f"{SIGHTINGS_PARTITION}#{run}", f"PART#{n:05d}"),
                contracts.TABLE_GSI_PARTITION_KEY: {"S": SIGHTINGS_PARTITION},
                contracts.TABLE_GSI_SORT_KEY: {"S": f"{run}#{n:05d}"},
                SEEN_MAP: {"M": {token: {"N": str(at)} for token, at in part}},
                TTL: {"N": str(max(at for _, at in part) + _lifetime())},
            }

        self._put_all(parts, pack)
        return len(parts)

    def packed_first_seen(self) -> dict[str, datetime]:
        """Every packed first sighting (the earliest, where a token is in several packs).
        Raises StoreError."""
        found: dict[str, int] = {}
        for item in self._query(
            IndexName=contracts.TABLE_GSI_NAME,
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames={"#p": contracts.TABLE_GSI_PARTITION_KEY, "#m": SEEN_MAP},
            ExpressionAttributeValues={":p": {"S": SIGHTINGS_PARTITION}},
            ProjectionExpression="#m",
        ):
            for token, value in item.get(SEEN_MAP, {}).get("M", {}).items():
                at = int(value["N"])
                if token not in found or at < found[token]:
                    found[token] = at
        return {token: datetime.fromtimestamp(at, UTC) for token, at in found.items()}


def _lifetime() -> int:
    return int(REQUEST_LIFETIME.total_seconds())
