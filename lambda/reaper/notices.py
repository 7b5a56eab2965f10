"""The reaper's own events (docs/lambda.md, "Events"): which decisions are told to the world,
and the detail each carries. Pure: the event bus adapter sends what this builds.

Best effort by design: the audit table is the record; an event that cannot be put is counted
(metric ``EventsNotSent``), never a reason to fail or repeat a decision.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC
from typing import Any

from reaper import contracts
from reaper.models import CANCEL_MAY_HAVE_LANDED, Decision, Outcome
from reaper.run_state import CLAIMED_ELSEWHERE

# A failure that says nothing about the request (another delivery holds it, or whether the
# cancel landed is still unknown: its outcome comes later) is not a failed cancel.
NOT_A_CANCEL_FAILURE = frozenset({CLAIMED_ELSEWHERE, *CANCEL_MAY_HAVE_LANDED})


def detail_type(decision: Decision) -> str | None:
    if decision.dry_run and decision.outcome is not Outcome.BLOCKING:
        return None
    if decision.outcome in (Outcome.CANCELLED, Outcome.CANCEL_COMPLETE):
        return contracts.DETAIL_TYPE_CANCELLED
    if decision.outcome is Outcome.BLOCKING:
        return contracts.DETAIL_TYPE_BLOCKING
    if (
        decision.outcome is Outcome.FAILED
        and decision.status_seen is not None
        and decision.error_code not in NOT_A_CANCEL_FAILURE
    ):
        return contracts.DETAIL_TYPE_CANCEL_FAILED
    return None


def detail(decision: Decision) -> dict[str, Any]:
    """Schema version 1 (docs/lambda.md): fields absent when unknown, never a ResourceModel."""
    fields: dict[str, Any] = {
        "schemaVersion": contracts.EVENT_SCHEMA_VERSION,
        "requestToken": decision.token,
        "typeName": decision.type_name,
        "identifier": decision.identifier,
        "operation": decision.operation,
        "outcome": decision.outcome.value,
        "statusAfter": decision.status_after.value if decision.status_after else None,
        "ageSeconds": decision.age_seconds,
        "thresholdMinutes": decision.threshold_minutes,
        "startedBy": decision.started_by,
        "userAgent": decision.user_agent,
        "blockedCall": decision.blocked_call,
        "hookStatus": decision.hook_status,
        "leftover": decision.leftover,
        "errorCode": decision.error_code,
        "source": decision.source.value,
        "deliveryId": decision.delivery_id,
        "runId": decision.request_id,
        "decidedAt": decision.decided_at.astimezone(UTC).isoformat(),
    }
    return {k: v for k, v in fields.items() if v is not None}


def entries(decisions: Iterable[Decision]) -> list[tuple[str, str]]:
    """(detail type, detail JSON) of each decision worth an event."""
    found: list[tuple[str, str]] = []
    for decision in decisions:
        kind = detail_type(decision)
        if kind is not None:
            found.append((kind, json.dumps(detail(decision))))
    return found
