"""Pure parsing of everything the handler receives into tokens, or a precise error.

No I/O, no AWS, no Powertools: ``parse_body`` and ``parse_event`` take raw input and return a
``Parsed`` value or raise ``InvalidInput`` naming the field and the rule it broke. That makes
them cheap on the cold path and easy to fuzz; they never raise anything else for any input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reaper import contracts
from reaper.dead_letter_format import parse_dead_letter, parse_follow_up
from reaper.inputs import (
    MAX_BODY_BYTES,
    MAX_REASON_CHARS,
    MAX_TOKENS_PER_MESSAGE,
    TOKEN_PATTERN,
    TOKEN_RE,
    TOKEN_RULE,
    Approval,
    BlockedCall,
    Caller,
    CallWithoutToken,
    ErrorCode,
    FollowUp,
    Ignored,
    InvalidInput,
    Parsed,
    SweepRequest,
    TokenRequest,
    enum_field,
    handoff_field,
    is_valid_token,
    reason_field,
    short_text,
    text_field,
    time_field,
    token_field,
    tokens_field,
)
from reaper.models import Mode, Source

# Re-exported: the names callers have always imported from here.
__all__ = [
    "MAX_BODY_BYTES",
    "MAX_REASON_CHARS",
    "MAX_TOKENS_PER_MESSAGE",
    "TOKEN_PATTERN",
    "TOKEN_RULE",
    "Approval",
    "BlockedCall",
    "CallWithoutToken",
    "Caller",
    "ErrorCode",
    "FollowUp",
    "Ignored",
    "InvalidInput",
    "Parsed",
    "SweepRequest",
    "TokenRequest",
    "is_valid_token",
    "parse_body",
    "parse_event",
]

CUSTOM_SOURCE = contracts.CUSTOM_EVENT_SOURCE
CUSTOM_DETAIL_TYPE = contracts.CUSTOM_EVENT_DETAIL_TYPE
CLOUDTRAIL_SOURCE = contracts.CLOUDTRAIL_EVENT_SOURCE
CLOUDTRAIL_DETAIL_TYPE = contracts.CLOUDTRAIL_DETAIL_TYPE
CLOUDTRAIL_EVENT_SOURCE = contracts.CLOUDTRAIL_API_EVENT_SOURCE
WATCHED_EVENT_NAMES = frozenset(contracts.CLOUDTRAIL_EVENT_NAMES)
OPERATION_OF_EVENT = {
    "CreateResource": "CREATE",
    "UpdateResource": "UPDATE",
    "DeleteResource": "DELETE",
}
SCHEDULE_SOURCE = contracts.SCHEDULE_EVENT_SOURCE
SCHEDULE_DETAIL_TYPE = contracts.SCHEDULE_DETAIL_TYPE
DEAD_LETTER_KIND = contracts.DEAD_LETTER_KIND
# "Concurrent operation found for resource ... with RequestToken <token>" (one public report).
BLOCKING_TOKEN_RE = re.compile(r"RequestToken[\s:=]+([-A-Za-z0-9+/=]{1,128})")


def parse_body(body: object) -> Parsed:
    """An SQS record body: a bare token, or JSON (see ``parse_event``)."""
    if not isinstance(body, str):
        raise InvalidInput(ErrorCode.INVALID_FIELD, "body", "must be a string")
    if len(body) > MAX_BODY_BYTES or len(body.encode("utf-8", "replace")) > MAX_BODY_BYTES:
        raise InvalidInput(
            ErrorCode.BODY_TOO_LARGE, "body", f"must be at most {MAX_BODY_BYTES} bytes"
        )
    text = body.strip()
    if TOKEN_RE.fullmatch(text):
        return TokenRequest(tokens=(text,), source=Source.SQS)
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise InvalidInput(
            ErrorCode.MALFORMED_JSON,
            "body",
            f"is neither a request token ({TOKEN_RULE}) nor valid JSON ({detail})",
        ) from None
    if isinstance(value, str):
        return TokenRequest(tokens=(token_field(value, "body"),), source=Source.SQS)
    return parse_event(value, default_source=Source.SQS)


def parse_event(event: object, default_source: Source = Source.EVENTBRIDGE) -> Parsed:
    """A direct invocation's event, or the JSON of an SQS body.

    Accepts an EventBridge event (custom, CloudTrail, schedule), a token message
    (``requestToken``/``requestTokens``), a reaper dead-letter record, an approval, a
    follow-up message or a Lambda on-failure destination record.
    """
    if not isinstance(event, Mapping):
        raise InvalidInput(ErrorCode.UNKNOWN_EVENT_SHAPE, "event", "must be a JSON object")
    if event.get("kind") == DEAD_LETTER_KIND:
        return parse_dead_letter(event)
    if event.get("kind") == contracts.APPROVAL_KIND:
        return _approval(event)
    if event.get("kind") == contracts.FOLLOW_UP_KIND:
        return parse_follow_up(event)
    if "requestPayload" in event and "requestContext" in event:
        return parse_event(event["requestPayload"], default_source)
    if "detail-type" in event or ("source" in event and "detail" in event):
        return _eventbridge(event)
    if "requestToken" in event or "requestTokens" in event:
        return TokenRequest(
            tokens=tokens_field(event, ""),
            source=enum_field(Source, event, "source", default_source),
            mode=enum_field(Mode, event, "mode", Mode.CANCEL),
            reason=reason_field(event, ""),
            handoff=handoff_field(event),
        )
    raise InvalidInput(
        ErrorCode.UNKNOWN_EVENT_SHAPE,
        "event",
        "expected requestToken(s), an EventBridge event, a reaper dead-letter record or a "
        f"Lambda on-failure record; got keys {sorted(short_text(k, 40) for k in event)[:10]}",
    )


def _eventbridge(event: Mapping[str, Any]) -> Parsed:
    source = event.get("source")
    detail_type = event.get("detail-type")
    if source == SCHEDULE_SOURCE and detail_type == SCHEDULE_DETAIL_TYPE:
        return SweepRequest()
    detail = event.get("detail")
    if source == CUSTOM_SOURCE and detail_type == CUSTOM_DETAIL_TYPE:
        if not isinstance(detail, Mapping):
            raise InvalidInput(ErrorCode.MISSING_FIELD, "detail", "must be an object")
        return TokenRequest(
            tokens=tokens_field(detail, "detail."),
            source=Source.EVENTBRIDGE,
            reason=reason_field(detail, "detail."),
        )
    if source == CLOUDTRAIL_SOURCE and detail_type == CLOUDTRAIL_DETAIL_TYPE:
        return _cloudtrail(detail)
    raise InvalidInput(
        ErrorCode.UNKNOWN_EVENT_SHAPE,
        "source/detail-type",
        f"unsupported pair {short_text(source)!r}/{short_text(detail_type)!r}; expected "
        f"{CUSTOM_SOURCE!r}/{CUSTOM_DETAIL_TYPE!r}, {CLOUDTRAIL_SOURCE!r}/"
        f"{CLOUDTRAIL_DETAIL_TYPE!r} or {SCHEDULE_SOURCE!r}/{SCHEDULE_DETAIL_TYPE!r}",
    )


def _cloudtrail(detail: object) -> Parsed:
    if not isinstance(detail, Mapping):
        raise InvalidInput(ErrorCode.MISSING_FIELD, "detail", "must be an object")
    if detail.get("eventSource") != CLOUDTRAIL_EVENT_SOURCE:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, "detail.eventSource", f"must be {CLOUDTRAIL_EVENT_SOURCE!r}"
        )
    name = detail.get("eventName")
    if name not in WATCHED_EVENT_NAMES:
        # Our own CancelResourceRequest calls and reads come back through CloudTrail too.
        return Ignored(f"detail.eventName {short_text(name)!r} starts no request to watch")
    error = detail.get("errorCode")
    if error == contracts.CONFLICT_ERROR_CODE:
        return _blocked_call(str(name), detail)
    if error:
        return Ignored(f"the {name} call failed ({short_text(error)}): no request")
    elements = detail.get("responseElements")
    found = _find_token(elements, depth=0) if isinstance(elements, Mapping) else None
    if found is None:
        # No public sample shows where CloudTrail puts the token: without one, the service
        # looks for the request this call started instead of failing the event.
        return CallWithoutToken(str(name), OPERATION_OF_EVENT[name], *_resource(detail))
    path, token = found
    return TokenRequest(
        tokens=(token_field(token, f"detail.responseElements{path}"),),
        source=Source.CLOUDTRAIL,
        mode=Mode.WATCH,
        caller=_caller(detail),
    )


def _resource(
    detail: Mapping[str, Any],
) -> tuple[str | None, str | None, datetime | None, Caller | None]:
    """Type, identifier, time and caller of a call: nothing else of the record is kept
    (DesiredState and PatchDocument are sensitive)."""
    parameters = detail.get("requestParameters")
    params: Mapping[str, Any] = parameters if isinstance(parameters, Mapping) else {}
    return (
        text_field(params.get("typeName"), 196),
        text_field(params.get("identifier"), 1024),
        time_field(detail.get("eventTime")),
        _caller(detail),
    )


def _caller(detail: Mapping[str, Any]) -> Caller | None:
    identity = detail.get("userIdentity")
    arn = identity.get("arn") if isinstance(identity, Mapping) else None
    caller = Caller(text_field(arn, 1024), text_field(detail.get("userAgent"), 256))
    return caller if caller.principal or caller.user_agent else None


def _blocked_call(name: str, detail: Mapping[str, Any]) -> BlockedCall:
    message = detail.get("errorMessage")
    found = BLOCKING_TOKEN_RE.search(message) if isinstance(message, str) else None
    hint = found.group(1) if found and is_valid_token(found.group(1)) else None
    return BlockedCall(name, OPERATION_OF_EVENT[name], *_resource(detail), message_token=hint)


PLAN_ID_RE = re.compile(r"[-A-Za-z0-9]{1,128}")


def _approval(record: Mapping[str, Any]) -> Approval:
    plan_id = record.get("planId")
    if not isinstance(plan_id, str) or not PLAN_ID_RE.fullmatch(plan_id):
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, "planId", "must be 1 to 128 characters of [-A-Za-z0-9]"
        )
    approved_by = text_field(record.get("approvedBy"), 256)
    if approved_by is None:
        raise InvalidInput(ErrorCode.MISSING_FIELD, "approvedBy", "must name who approved")
    approved_at = time_field(record.get("approvedAt"))
    if approved_at is None or approved_at.tzinfo is None:
        raise InvalidInput(
            ErrorCode.INVALID_FIELD, "approvedAt", "must be an ISO 8601 time with its zone"
        )
    return Approval(plan_id, approved_by, approved_at)


def _find_token(value: Mapping[str, Any], depth: int) -> tuple[str, object] | None:
    """The documented place first, then ``requestToken``/``RequestToken`` anywhere below."""
    progress = value.get("progressEvent")
    if isinstance(progress, Mapping) and "requestToken" in progress:
        return ".progressEvent.requestToken", progress["requestToken"]
    for key in ("requestToken", "RequestToken"):
        if key in value:
            return f".{key}", value[key]
    if depth >= 4:
        return None
    for key, child in value.items():
        if isinstance(child, Mapping):
            found = _find_token(child, depth + 1)
            if found is not None:
                return f".{key}{found[0]}", found[1]
    return None
