"""A sweep's hand-off: the chosen requests its own time cannot hold go to the work queue right
after listing, in messages sized to one receiving invocation (``sizing.handoff_batch``), so the
receivers cancel beside the sweep from the start instead of after it.

What the sweep read of each handed-off request (type, operation, status, EventTime, first
sighting) is kept in the audit table, one item per message (``HandOffRef`` names it); the
message carries the tokens as any work message does. Its receiver cancels without reading
each request again (the cancel's answer says whether it was still active), and trusts only
what the table holds: a message can say which item to read, never how old a request is. A
token the item does not hold (an item rewritten by a retried sweep, or unreadable) is read
from Cloud Control as any other token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reaper.models import RequestStatus, Status

# A hand-off's readings outlive every replay of its messages: SQS keeps a dead letter at most
# 14 days (a replay without them reads each request, which is correct, only slower).
HANDOFF_LIFETIME = timedelta(days=15)


@dataclass(frozen=True, slots=True)
class Reading:
    """A request as the sweep listed it (or read it), and when it was first seen."""

    request: RequestStatus
    first_seen: datetime


@dataclass(frozen=True, slots=True)
class HandOffRef:
    """The audit item that holds a hand-off message's readings: the sweep's run and a part."""

    run: str
    part: int


def encode(readings: list[Reading]) -> str:
    """Compact JSON (short keys: an item holds up to a message's worth of readings)."""
    rows = []
    for reading in readings:
        r = reading.request
        row: dict[str, Any] = {
            "t": r.token,
            "y": r.type_name,
            "o": r.operation,
            "s": r.status.value,
            "f": _iso(reading.first_seen),
        }
        optional = {
            "i": r.identifier,
            "e": _iso(r.event_time) if r.event_time else None,
            "h": r.hooks_token,
            "hs": r.hook_status,
        }
        row.update((k, v) for k, v in optional.items() if v is not None)
        rows.append(row)
    return json.dumps(rows, separators=(",", ":"))


def decode(text: str) -> dict[str, Reading]:
    """The readings by token; a row that does not parse is left out (its token is read from
    Cloud Control instead)."""
    try:
        rows = json.loads(text)
    except ValueError:
        return {}
    found: dict[str, Reading] = {}
    for row in rows if isinstance(rows, list) else []:
        try:
            request = RequestStatus(
                token=str(row["t"]),
                type_name=str(row["y"]),
                identifier=_opt(row, "i"),
                operation=str(row["o"]),
                status=Status(row["s"]),
                event_time=_time(row["e"]) if "e" in row else None,
                hooks_token=_opt(row, "h"),
                hook_status=_opt(row, "hs"),
            )
            found[request.token] = Reading(request, _time(row["f"]))
        except (KeyError, TypeError, ValueError):
            continue
    return found


def _opt(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    return None if value is None else str(value)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _time(text: object) -> datetime:
    if not isinstance(text, str):
        raise TypeError("not a time")
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError("a time without its zone")
    return at
