"""The dead-letter record (docs/DESIGN.md) and the follow-up message, each written once: how it
is written, and how it is read back. A letter must be a body the reaper accepts (an operator's
redrive sends it to the work queue as is), and its replay must end in a recorded decision: a
failure's replay decides its tokens again under the delivery it failed in; a letter of
decisions the audit table refused carries them, and its replay records them as they were. A
follow-up that the queue's redrive policy dead-letters is itself such a body: its replay reads
the request once and records what it shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from reaper import contracts
from reaper.inputs import (
    MAX_BODY_BYTES,
    MAX_DELIVERY_ID_CHARS,
    MAX_REASON_CHARS,
    ErrorCode,
    FollowUp,
    InvalidInput,
    TokenRequest,
    enum_field,
    reason_field,
    short_text,
    text_field,
    time_field,
    token_field,
    tokens_field,
)
from reaper.models import Decision, Mode, Outcome, Source, Status
from reaper.ports import DeadLetter


def dead_letter_body(letter: DeadLetter) -> str:
    """The record in docs/DESIGN.md: the work queue accepts it back as is (a redrive), so it
    must be a body the reaper accepts. JSON escapes a character of ``original`` into as many
    as 6 bytes (``\\u00e9``): it is cut until the encoded record fits ``MAX_BODY_BYTES``."""
    record: dict[str, Any] = {
        "kind": contracts.DEAD_LETTER_KIND,
        "version": contracts.DEAD_LETTER_VERSION,
        "requestTokens": list(letter.tokens),
        "mode": letter.mode.value,
        "source": letter.source.value,
        "deliveryId": letter.delivery_id,
        "error": {"code": letter.error_code, "message": letter.error_message},
        "original": letter.original,
        "failedAt": letter.failed_at.astimezone(UTC).isoformat(),
    }
    if letter.decisions:
        record["decisions"] = {d.token: decision_fields(d) for d in letter.decisions}
    body = json.dumps(record)  # ASCII only: its length is its size in bytes
    original = letter.original
    while len(body) > MAX_BODY_BYTES and original:
        bytes_per_char = len(json.dumps(original)) / len(original)
        keep = int(len(original) - (len(body) - MAX_BODY_BYTES) / bytes_per_char) - 64
        original = record["original"] = original[: max(0, keep)]
        body = json.dumps(record)
    return body


def decision_fields(decision: Decision) -> dict[str, Any]:
    """A decision as a dead letter carries it (docs/DESIGN.md): what its replay records."""
    fields: dict[str, Any] = {
        "outcome": decision.outcome.value,
        "decidedAt": decision.decided_at.astimezone(UTC).isoformat(),
        "requestId": decision.request_id,
        "dryRun": decision.dry_run,
        "statusSeen": decision.status_seen,
        "statusAfter": decision.status_after,
        "typeName": decision.type_name,
        "identifier": decision.identifier,
        "operation": decision.operation,
        "eventTime": decision.event_time.astimezone(UTC).isoformat()
        if decision.event_time
        else None,
        "firstSeen": decision.first_seen.astimezone(UTC).isoformat()
        if decision.first_seen
        else None,
        "ageSeconds": decision.age_seconds,
        "thresholdMinutes": decision.threshold_minutes,
        "errorCode": decision.error_code,
        "errorMessage": decision.error_message,
        "reason": decision.reason,
        "why": decision.why,
        "startedBy": decision.started_by,
        "userAgent": decision.user_agent,
        "hooksToken": decision.hooks_token,
        "hookStatus": decision.hook_status,
        "blockedCall": decision.blocked_call,
        "leftover": decision.leftover,
    }
    return {k: (v.value if hasattr(v, "value") else v) for k, v in fields.items() if v is not None}


def parse_dead_letter(record: Mapping[str, Any]) -> TokenRequest:
    tokens = record.get("requestTokens")
    if not isinstance(tokens, list) or not tokens:
        raise InvalidInput(
            ErrorCode.MISSING_FIELD,
            "requestTokens",
            "a dead-letter record needs at least one token to replay (fix it and redrive)",
        )
    tokens = tokens_field(record, "")
    source = enum_field(Source, record, "source", Source.SQS)
    delivery_id = record.get("deliveryId")
    if delivery_id is not None and not (
        isinstance(delivery_id, str) and 0 < len(delivery_id) <= MAX_DELIVERY_ID_CHARS
    ):
        raise InvalidInput(
            ErrorCode.INVALID_FIELD,
            "deliveryId",
            f"must be a string of 1 to {MAX_DELIVERY_ID_CHARS} characters",
        )
    settled = _settled(record.get("decisions"), tokens, source, delivery_id)
    return TokenRequest(
        tokens=tokens,
        source=source,
        mode=enum_field(Mode, record, "mode", Mode.CANCEL),
        reason=reason_field(record, ""),
        delivery_id=delivery_id,
        settled=settled,
    )


def _settled(
    value: object, tokens: tuple[str, ...], source: Source, delivery_id: str | None
) -> tuple[Decision, ...]:
    """The decisions a dead letter carries, one per token it names (docs/DESIGN.md)."""
    if value is None:
        return ()
    if not isinstance(value, Mapping) or delivery_id is None:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD,
            "decisions",
            "must be an object of token: decision, with deliveryId",
        )
    decisions: list[Decision] = []
    for token, fields in value.items():
        field = f"decisions[{short_text(token, 140)!r}]"
        if token not in tokens or not isinstance(fields, Mapping):
            raise InvalidInput(
                ErrorCode.INVALID_FIELD,
                field,
                "must name a token of requestTokens and hold an object",
            )
        decisions.append(_decision(token, fields, source, delivery_id, field))
    return tuple(decisions)


def _decision(
    token: str, fields: Mapping[str, Any], source: Source, delivery_id: str, field: str
) -> Decision:
    outcome = enum_field(Outcome, fields, "outcome", Outcome.FAILED)
    decided_at = time_field(fields.get("decidedAt"))
    request_id = fields.get("requestId")
    if decided_at is None or not isinstance(request_id, str) or outcome is Outcome.FAILED:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD,
            field,
            "needs an outcome other than failed, decidedAt (ISO 8601) and requestId",
        )

    def status(key: str) -> Status | None:
        return None if fields.get(key) is None else enum_field(Status, fields, key, Status.PENDING)

    def number(key: str) -> int | None:
        raw = fields.get(key)
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else None

    return Decision(
        token=token,
        source=source,
        delivery_id=delivery_id,
        outcome=outcome,
        decided_at=decided_at,
        request_id=request_id[:MAX_DELIVERY_ID_CHARS],
        dry_run=fields.get("dryRun") is True,
        status_seen=status("statusSeen"),
        status_after=status("statusAfter"),
        type_name=text_field(fields.get("typeName"), 196),
        identifier=text_field(fields.get("identifier"), 1024),
        operation=text_field(fields.get("operation"), 16),
        event_time=time_field(fields.get("eventTime")),
        first_seen=time_field(fields.get("firstSeen")),
        age_seconds=number("ageSeconds"),
        threshold_minutes=number("thresholdMinutes"),
        error_code=text_field(fields.get("errorCode"), 128),
        error_message=text_field(fields.get("errorMessage"), 1024),
        reason=text_field(fields.get("reason"), MAX_REASON_CHARS),
        why=text_field(fields.get("why"), 1024),
        started_by=text_field(fields.get("startedBy"), 1024),
        user_agent=text_field(fields.get("userAgent"), 256),
        hooks_token=text_field(fields.get("hooksToken"), 128),
        hook_status=text_field(fields.get("hookStatus"), 32),
        blocked_call=text_field(fields.get("blockedCall"), 1024),
        leftover=text_field(fields.get("leftover"), 16),
    )


# ---------------------------------------------------------------- the follow-up message
# A follow-up hops at most this many times (SQS delays at most 900 s a hop).
FOLLOW_UP_MAX_HOPS = 12
FOLLOW_UP_FIELDS = frozenset(
    {"kind", "version", "requestToken", "source", "deliveryId", "hop", "cancelledAt"}
)


def follow_up_body(follow_up: FollowUp) -> str:
    """The message in docs/lambda.md ("Follow-up messages")."""
    return json.dumps(
        {
            "kind": contracts.FOLLOW_UP_KIND,
            "version": contracts.FOLLOW_UP_VERSION,
            "requestToken": follow_up.token,
            "source": follow_up.source.value,
            "deliveryId": follow_up.delivery_id,
            "hop": follow_up.hop,
            "cancelledAt": follow_up.cancelled_at.astimezone(UTC).isoformat(),
        }
    )


def parse_follow_up(record: Mapping[str, Any]) -> FollowUp:
    """Strict: every field present and valid, nothing else (one line naming the field)."""
    unknown = sorted(short_text(k, 40) for k in record if k not in FOLLOW_UP_FIELDS)
    if unknown:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, unknown[0], "is not a field of a follow-up message"
        )
    if record.get("version") != contracts.FOLLOW_UP_VERSION:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, "version", f"must be {contracts.FOLLOW_UP_VERSION}"
        )
    if "requestToken" not in record:
        raise InvalidInput(ErrorCode.MISSING_FIELD, "requestToken", "is missing")
    token = token_field(record["requestToken"], "requestToken")
    if "source" not in record:
        raise InvalidInput(ErrorCode.MISSING_FIELD, "source", "is missing")
    source = enum_field(Source, record, "source", Source.SQS)
    delivery_id = record.get("deliveryId")
    if not (isinstance(delivery_id, str) and 0 < len(delivery_id) <= MAX_DELIVERY_ID_CHARS):
        raise InvalidInput(
            ErrorCode.INVALID_FIELD,
            "deliveryId",
            f"must be a string of 1 to {MAX_DELIVERY_ID_CHARS} characters",
        )
    hop = record.get("hop")
    if not isinstance(hop, int) or isinstance(hop, bool) or not 0 <= hop <= FOLLOW_UP_MAX_HOPS:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, "hop", f"must be an integer from 0 to {FOLLOW_UP_MAX_HOPS}"
        )
    cancelled_at = time_field(record.get("cancelledAt"))
    if cancelled_at is None or cancelled_at.tzinfo is None:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, "cancelledAt", "must be an ISO 8601 time with its zone"
        )
    return FollowUp(token, source, delivery_id, hop, cancelled_at)
